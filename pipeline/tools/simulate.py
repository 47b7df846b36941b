"""Simulated traffic with chosen features shifted, sent to the local endpoint, so the
whole monitor -> alert -> retrain loop can be shown on one machine."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core import atomic
from pipeline.errors import ServingError
from pipeline.serving.instances import ID_SIGNATURE
from pipeline.tools import synth
from pipeline.training import schema

# Each named shift favours rows with these values when resampling a generated pool.
SHIFTS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "contract": lambda f: (f["Contract"] == "Month-to-month").to_numpy(),
    "fiber": lambda f: (f["InternetService"] == "Fiber optic").to_numpy(),
    "tenure": lambda f: (f["tenure"].astype(int) <= 12).to_numpy(),
    "payment": lambda f: (f["PaymentMethod"] == "Electronic check").to_numpy(),
    "senior": lambda f: (f["SeniorCitizen"].astype(int) == 1).to_numpy(),
    "charges": lambda f: (f["MonthlyCharges"].astype(float) >= 80).to_numpy(),
}
MAX_ROWS = 200_000
MAX_SECONDS = 300.0


@dataclass(frozen=True)
class SimulationResult:
    """What was sent and where the ground truth went."""

    rows: int
    sent: int
    failed: int
    seconds: float
    labelled_csv: Path
    labels_csv: Path


def parse_shifts(spec: str) -> list[str]:
    """'contract,fiber' -> ['contract', 'fiber'], with a clear error for unknown names."""
    names = [part.strip().lower() for part in spec.split(",") if part.strip()]
    unknown = [name for name in names if name not in SHIFTS]
    if unknown:
        raise ServingError(f"--drift {spec}: unknown shift {', '.join(unknown)} "
                           f"(choose from {', '.join(SHIFTS)}; empty for none)")
    return names


def drifted_customers(rows: int, shifts: list[str], seed: int, strength: float = 25.0) -> pd.DataFrame:
    """Generated customers, resampled so rows matching each shift are `strength` times likelier."""
    pool = synth.generate_customers(rows * 4 if shifts else rows, seed=seed)
    if not shifts:
        return pool.head(rows).reset_index(drop=True)
    weights = np.ones(len(pool))
    for name in shifts:
        weights *= np.where(SHIFTS[name](pool), strength, 1.0)
    picked = np.random.default_rng(seed).choice(len(pool), size=rows, replace=False, p=weights / weights.sum())
    return pool.iloc[np.sort(picked)].reset_index(drop=True)


def instances_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON instances as a client would send them: numbers as JSON numbers (a blank
    TotalCharges as 0, as the loader reads it), categories as text, and the customerID that
    the ID signature takes and the prediction log keeps, so labels can be joined later."""
    features = frame[[schema.ID_COLUMN, *schema.FEATURES]].copy()
    for name in schema.NUMERIC_FEATURES:
        features[name] = pd.to_numeric(features[name].astype(str).str.strip().replace("", "0"))
    return features.to_dict("records")


def require_loopback(url: str) -> str:
    """Simulated load only ever goes to this machine."""
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise ServingError(f"{url}: simulate only sends traffic to loopback addresses (127.0.0.1, localhost)")
    return url.rstrip("/")


def simulate(url: str, endpoint: str, shifts: list[str], rows: int, out_dir: Path, seed: int = 7,
             batch: int = 50, token: str | None = None,
             on_batch: Callable[[int], None] | None = None) -> SimulationResult:
    """Send `rows` generated (optionally shifted) customers in batches; keep the labels."""
    if not 0 < rows <= MAX_ROWS:
        raise ServingError(f"--rows {rows}: choose 1 to {MAX_ROWS:,} (simulated load is bounded)")
    # :rawPredict hands the body to TF Serving unchanged (on Vertex too), so signature_name
    # reaches the signature that takes customerID; :predict would refuse the extra key.
    route = f"{require_loopback(url)}/v1/endpoints/{endpoint}:rawPredict"
    frame = drifted_customers(rows, shifts, seed)
    instances = instances_of(frame)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    # The folder is claimed before any traffic (an unwritable place fails first, a run in
    # the same second gets <stamp>-2) and filled in one rename: labels are never half there.
    with atomic.new_directory(Path(out_dir), stamp) as (staging, target):
        started, sent, failed = time.monotonic(), 0, 0
        for start in range(0, rows, batch):
            if time.monotonic() - started > MAX_SECONDS:
                break
            ok = _post(route, instances[start:start + batch], token)
            sent, failed = sent + (batch if ok else 0), failed + (0 if ok else 1)
            if on_batch:
                on_batch(min(batch, rows - start))
        # Customer IDs with their outcomes: private to the user who ran it.
        atomic.write_text(staging / "labelled.csv", frame.to_csv(index=False), private=True)
        truth = frame[[schema.ID_COLUMN, schema.LABEL_COLUMN]]
        atomic.write_text(staging / "labels.csv", truth.to_csv(index=False), private=True)
    return SimulationResult(rows, min(sent, rows), failed, time.monotonic() - started,
                            target / "labelled.csv", target / "labels.csv")


def _post(route: str, instances: list[dict[str, Any]], token: str | None) -> bool:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"signature_name": ID_SIGNATURE, "instances": instances}).encode()
    request = urllib.request.Request(route, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status == 200
    except urllib.error.HTTPError:
        return False
    except (urllib.error.URLError, OSError) as exc:
        raise ServingError(f"{route}: endpoint not reachable ({exc}); start it with `churn deploy`") from None
