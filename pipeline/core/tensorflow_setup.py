"""TensorFlow's process settings, applied once by the CLI entry point and the server.

Set before TensorFlow is imported (they are read at import): quiet C++ start-up logs (TF 2.21
logs a harmless NodeDef error per model load), and oneDNN's reordered float sums off, so
predictions match across TensorFlow versions (the 2.15 serving image) and runs. Importing
`pipeline` sets nothing; a user's own values win.
"""

from __future__ import annotations

import os

SETTINGS = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def configure_tensorflow() -> None:
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)
