"""Infrastructure every area uses: atomic files, progress display."""
