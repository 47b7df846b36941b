"""A Keras callback advancing a rich progress task (pipeline.core.progress) once per epoch."""

from __future__ import annotations

import keras
from rich.progress import Progress, TaskID


class EpochProgress(keras.callbacks.Callback):
    """Advances a rich task by one per epoch and shows the losses."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        super().__init__()
        self.progress = progress
        self.task = task

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        status = f"loss {logs.get('loss', float('nan')):.4f} val_loss {logs.get('val_loss', float('nan')):.4f}"
        self.progress.update(self.task, advance=1, status=status)
