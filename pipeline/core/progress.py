"""Progress display for long steps (rich), quiet when output is not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras
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
