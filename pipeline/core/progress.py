"""Progress display for long steps (rich), quiet when output is not a terminal. No TensorFlow
here: commands that only send requests or read logs use it too (the Keras epoch callback is
pipeline.training.epoch_progress)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

STDERR = Console(stderr=True)


def make_progress() -> Progress:
    """A progress display on stderr, so stdout stays clean for paths and data. Off when stderr
    is not a terminal: rich would print the last state of every task at exit, so a command
    that fails early would print more than its one-line error."""
    return Progress(
        TextColumn("[bold blue]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=STDERR, transient=False,
        disable=not STDERR.is_terminal,
    )


@contextmanager
def stage(progress: Progress, description: str, total: int = 1) -> Iterator[TaskID]:
    """A task that is complete when the block exits."""
    task = progress.add_task(description, total=total, status="")
    yield task
    progress.update(task, completed=total)
