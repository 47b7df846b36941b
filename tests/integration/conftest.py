"""Fixtures of the integration tests: the Vertex / Cloud Monitoring fakes and the GCS emulator."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # `tests.fakes` must import however pytest was started
    sys.path.insert(0, _ROOT)

from tests.fakes.fixtures import *  # noqa: E402,F403
