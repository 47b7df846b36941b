"""Seeded synthetic Telco customers: the committed sample and data for scale tests.

Rows follow the public IBM/Kaggle file exactly (columns, order, value sets, text
formats, the blank TotalCharges of brand-new customers) and carry its well-known churn
effects, so a model trained here behaves like one trained on the real file. Everything is
drawn column-wise with NumPy and formatted with Arrow: a million rows take a second or two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from pipeline.core import atomic
from pipeline.training import schema

_ID_LETTER_SPACE = 26**5
_ID_SPACE = 10_000 * _ID_LETTER_SPACE
# Keeps multiplier * row index below 2**63 for every row count the ID space allows.
_ID_MULTIPLIER_MAX = 77_000_000
# Per add-on: log-odds of taking it for (DSL, Fiber optic) customers of middling tenure,
# and its monthly price.
_ADDONS: dict[str, tuple[float, float, float]] = {
    "OnlineSecurity": (0.0, -1.2, 5.0),
    "OnlineBackup": (-0.3, -0.4, 5.0),
    "DeviceProtection": (-0.4, -0.3, 5.0),
    "TechSupport": (-0.1, -1.2, 5.0),
    "StreamingTV": (-0.8, 0.3, 10.0),
    "StreamingMovies": (-0.8, 0.3, 10.0),
}
# Churn log-odds contributions, shaped after the public file's logistic-regression fits.
_CHURN_INTERCEPT = -1.05
_CHURN_PER_LOG_TENURE = -0.5
_CHURN_CONTRACT = (0.0, -1.3, -2.6)  # Month-to-month, One year, Two year
_CHURN_INTERNET = (0.0, 0.85, -1.1)  # DSL, Fiber optic, No
_CHURN_NO_SECURITY = 0.4
_CHURN_NO_TECH_SUPPORT = 0.4
_CHURN_STREAMING = 0.15
_CHURN_ELECTRONIC_CHECK = 0.45
_CHURN_PAPERLESS = 0.35
_CHURN_SENIOR = 0.25
_CHURN_DEPENDENTS = -0.45
# Fiber customers without a contract are the classic high-risk segment: more than the sum
# of both effects. Interactions like this are where a network can beat a linear model.
_CHURN_FIBER_MONTH_TO_MONTH = 0.8
# The first months without a contract are the riskiest: a step no straight line follows.
_CHURN_EARLY_MONTH_TO_MONTH = 1.0
_EARLY_MONTHS = 6
# Satisfaction nobody recorded: keeps the label from being a function of the columns.
_CHURN_UNOBSERVED_SD = 1.25


def generate_customers(rows: int, seed: int | Sequence[int] = 42, *, id_key: tuple[int, int] | None = None,
                       start: int = 0) -> pd.DataFrame:
    """Return `rows` synthetic customers in the public Telco file's schema and formats.

    Deterministic: the same (rows, seed) gives an identical frame. customerIDs are unique
    for any row count up to 10,000 * 26**5. A chunk of a larger file passes the file's
    `id_key` (ID_KEY's draw) and its first row index `start`: its IDs are those of rows
    start..start+rows-1 of the file, so chunks never share an ID.
    """
    if not 0 <= rows <= _ID_SPACE:
        raise ValueError(f"rows must be between 0 and {_ID_SPACE}, got {rows}")
    rng = np.random.default_rng(seed)
    codes: dict[str, np.ndarray] = _draw_household(rng, rows)
    tenure = _draw_tenure(rng, codes["Partner"])
    codes["Contract"] = _draw_contract(rng, tenure, codes["SeniorCitizen"])
    codes.update(_draw_services(rng, tenure, codes["SeniorCitizen"], codes["Contract"]))
    codes.update(_draw_billing(rng, codes["Contract"], codes["InternetService"]))
    monthly = _monthly_charges(rng, codes)
    total_cents = _total_charges_cents(rng, tenure, monthly)
    codes["Churn"] = _draw_churn(rng, tenure, codes)
    customer_ids = _customer_ids(rng, rows, id_key, start)
    return _assemble_frame(customer_ids, codes, tenure, monthly, total_cents)


def write_customers(frame: pd.DataFrame, path: Path | str) -> Path:
    """Atomically write `frame` as CSV formatted like the public file; return the path.

    Header row, no index, no quoting, numbers in shortest form ("29.85", "1889.5") and the
    TotalCharges blanks of new customers kept as " ".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame[list(schema.COLUMNS)], preserve_index=False)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with atomic.writer(path) as handle:
        handle.write((",".join(schema.COLUMNS) + "\n").encode("utf-8"))
        pa_csv.write_csv(table, handle, options)
    return path


def _code(column: str, value: str) -> int:
    """Index of `value` in the schema's allowed values of `column`."""
    return schema.CATEGORICAL_VALUES[column].index(value)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def _draw_flags(rng: np.random.Generator, probability: np.ndarray | float, rows: int) -> np.ndarray:
    """0/1 int8 codes, 1 with the given (per-row) probability."""
    return (rng.random(rows) < probability).astype(np.int8)


def _draw_categories(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """Per-row category codes from an (rows, categories) array of softmax logits."""
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights, axis=1)
    uniform = rng.random((logits.shape[0], 1)) * cumulative[:, -1:]
    picked = (uniform >= cumulative).sum(axis=1)
    return np.minimum(picked, logits.shape[1] - 1).astype(np.int8)


def _draw_household(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """gender, SeniorCitizen, Partner, Dependents codes (dependents mostly with partners)."""
    partner = _draw_flags(rng, 0.483, rows)
    return {
        "gender": _draw_flags(rng, 0.5, rows),
        "SeniorCitizen": _draw_flags(rng, 0.162, rows),
        "Partner": partner,
        "Dependents": _draw_flags(rng, np.where(partner == 1, 0.52, 0.10), rows),
    }


def _draw_tenure(rng: np.random.Generator, partner: np.ndarray) -> np.ndarray:
    """Whole months 0-72, U-shaped: many new customers, a bump of loyal ones at 72."""
    rows = partner.shape[0]
    new = 1 + np.floor(rng.exponential(6.0, rows))
    steady = rng.integers(1, 73, rows).astype(np.float64)
    loyal = 72 - np.floor(rng.exponential(5.0, rows))
    partnered = partner == 1
    component = _draw_categories(
        rng,
        np.log(np.where(partnered[:, None], [[0.24, 0.50, 0.26]], [[0.44, 0.44, 0.12]])),
    )
    tenure = np.choose(component, (new, steady, loyal))
    tenure[rng.random(rows) < 0.0016] = 0  # signed up, not billed yet
    return np.clip(tenure, 0, 72).astype(np.int64)


def _draw_contract(rng: np.random.Generator, tenure: np.ndarray, senior: np.ndarray) -> np.ndarray:
    """Longer-tenured customers sit on longer contracts; seniors prefer month-to-month."""
    years = tenure / 72.0
    logits = np.stack([0.4 * senior, -2.2 + 3.0 * years, -3.4 + 5.0 * years], axis=1)
    return _draw_categories(rng, logits)


def _draw_services(
    rng: np.random.Generator, tenure: np.ndarray, senior: np.ndarray, contract: np.ndarray
) -> dict[str, np.ndarray]:
    """Phone, internet and add-on codes, with the public file's "No ... service" rules."""
    rows = tenure.shape[0]
    phone = _draw_flags(rng, 0.903, rows)
    lines = _draw_flags(rng, _sigmoid(-0.9 + 1.6 * tenure / 72.0), rows)
    multiple_lines = np.where(lines == 1, _code("MultipleLines", "Yes"), _code("MultipleLines", "No"))
    multiple_lines[phone == 0] = _code("MultipleLines", "No phone service")
    internet_logits = np.stack([np.zeros(rows), 0.45 + 1.1 * senior, -0.05 - 1.2 * senior], axis=1)
    internet = _draw_categories(rng, internet_logits)
    internet[phone == 0] = _code("InternetService", "DSL")  # as in the public file
    services = {
        "PhoneService": phone,
        "MultipleLines": multiple_lines.astype(np.int8),
        "InternetService": internet,
    }
    services.update(_draw_addons(rng, tenure, contract, internet))
    return services


def _draw_addons(
    rng: np.random.Generator, tenure: np.ndarray, contract: np.ndarray, internet: np.ndarray
) -> dict[str, np.ndarray]:
    """Internet add-on codes: taken more by long-tenured, long-contract customers."""
    fiber = internet == _code("InternetService", "Fiber optic")
    no_internet = internet == _code("InternetService", "No")
    loyalty = 1.4 * (tenure / 72.0 - 0.45) + 0.3 * contract
    addons = {}
    for name, (dsl_logodds, fiber_logodds, _) in _ADDONS.items():
        logodds = np.where(fiber, fiber_logodds, dsl_logodds) + loyalty
        taken = _draw_flags(rng, _sigmoid(logodds), tenure.shape[0])
        codes = np.where(taken == 1, _code(name, "Yes"), _code(name, "No"))
        addons[name] = np.where(no_internet, _code(name, "No internet service"), codes)
        addons[name] = addons[name].astype(np.int8)
    return addons


def _draw_billing(rng: np.random.Generator, contract: np.ndarray, internet: np.ndarray) -> dict[str, np.ndarray]:
    """PaperlessBilling and PaymentMethod: electronic checks go with month-to-month."""
    rows = contract.shape[0]
    fiber = internet == _code("InternetService", "Fiber optic")
    no_internet = internet == _code("InternetService", "No")
    paperless_logodds = 0.3 + 0.65 * fiber - 1.2 * no_internet - 0.15 * contract
    # Columns: Bank transfer, Credit card, Electronic check, Mailed check.
    by_contract = np.array([[0.0, 0.0, 1.35, 0.25], [0.5, 0.5, 0.0, 0.3], [0.8, 0.8, -1.0, 0.3]])
    payment_logits = by_contract[contract] + np.outer(no_internet, [0.0, 0.0, -0.5, 1.2])
    return {
        "PaperlessBilling": _draw_flags(rng, _sigmoid(paperless_logodds), rows),
        "PaymentMethod": _draw_categories(rng, payment_logits),
    }


def _is_yes(codes: dict[str, np.ndarray], column: str) -> np.ndarray:
    return codes[column] == _code(column, "Yes")


def _monthly_charges(rng: np.random.Generator, codes: dict[str, np.ndarray]) -> np.ndarray:
    """Price of the services taken plus a little noise, in steps of 0.05 like the public file."""
    internet = codes["InternetService"]
    price = (
        20.0 * codes["PhoneService"]
        + 5.0 * _is_yes(codes, "MultipleLines")
        + 25.0 * (internet == _code("InternetService", "DSL"))
        + 50.0 * (internet == _code("InternetService", "Fiber optic"))
        + rng.normal(0.0, 1.2, internet.shape[0])
    )
    for name, (_, _, addon_price) in _ADDONS.items():
        price += addon_price * _is_yes(codes, name)
    nickels = np.round(np.clip(price, 18.25, 118.75) * 20.0)
    return nickels * 5.0 / 100.0


def _total_charges_cents(rng: np.random.Generator, tenure: np.ndarray, monthly: np.ndarray) -> np.ndarray:
    """tenure x MonthlyCharges with past price changes as noise; -1 where never billed."""
    drift = np.clip(rng.normal(1.0, 0.04, tenure.shape[0]), 0.85, 1.15)
    drift[tenure <= 1] = 1.0  # one bill so far: the total is that bill
    cents = np.round(monthly * tenure * drift * 20.0).astype(np.int64) * 5
    cents[tenure == 0] = -1
    return cents


def _draw_churn(rng: np.random.Generator, tenure: np.ndarray, codes: dict[str, np.ndarray]) -> np.ndarray:
    """Churn codes from a logistic model with the public file's directions of effect."""
    internet = codes["InternetService"]
    has_internet = internet != _code("InternetService", "No")
    month_to_month = codes["Contract"] == _code("Contract", "Month-to-month")
    logodds = (
        _CHURN_INTERCEPT
        + _CHURN_PER_LOG_TENURE * np.log1p(tenure)
        + np.asarray(_CHURN_CONTRACT)[codes["Contract"]]
        + np.asarray(_CHURN_INTERNET)[internet]
        + _CHURN_NO_SECURITY * (has_internet & ~_is_yes(codes, "OnlineSecurity"))
        + _CHURN_NO_TECH_SUPPORT * (has_internet & ~_is_yes(codes, "TechSupport"))
        + _CHURN_STREAMING * (_is_yes(codes, "StreamingTV") + _is_yes(codes, "StreamingMovies"))
        + _CHURN_ELECTRONIC_CHECK * (codes["PaymentMethod"] == _code("PaymentMethod", "Electronic check"))
        + _CHURN_PAPERLESS * codes["PaperlessBilling"]
        + _CHURN_SENIOR * codes["SeniorCitizen"]
        + _CHURN_DEPENDENTS * codes["Dependents"]
        + month_to_month * (_CHURN_FIBER_MONTH_TO_MONTH * (internet == _code("InternetService", "Fiber optic"))
                            + _CHURN_EARLY_MONTH_TO_MONTH * (tenure <= _EARLY_MONTHS))
        + rng.normal(0.0, _CHURN_UNOBSERVED_SD, tenure.shape[0])
    )
    churn = _draw_flags(rng, _sigmoid(logodds), tenure.shape[0])
    churn[tenure == 0] = 0  # customers who just signed up have not left yet
    return churn


def id_key(rng: np.random.Generator) -> tuple[int, int]:
    """(multiplier, offset) of the ID bijection, drawn from `rng`."""
    multiplier = int(rng.integers(_ID_MULTIPLIER_MAX // 2, _ID_MULTIPLIER_MAX))
    while math.gcd(multiplier, _ID_SPACE) != 1:
        multiplier += 1
    return multiplier, int(rng.integers(0, _ID_SPACE))


def _customer_ids(rng: np.random.Generator, rows: int, key: tuple[int, int] | None = None,
                  start: int = 0) -> pa.Array:
    """Unique IDs like "7590-VHVEG": a shuffled row index pushed through a bijection of
    the 10,000 * 26**5 ID space, so uniqueness never rests on luck."""
    multiplier, offset = key if key is not None else id_key(rng)
    if (start + rows) * multiplier >= 2**63 or start + rows > _ID_SPACE:
        raise ValueError(f"rows {start}..{start + rows} exceed the customerID space")
    index = start + rng.permutation(rows).astype(np.int64)
    numbers = (index * multiplier % _ID_SPACE + offset) % _ID_SPACE
    digits, letters = np.divmod(numbers, _ID_LETTER_SPACE)
    chars = np.empty((rows, 10), dtype=np.uint8)
    for position in range(4):
        chars[:, position] = ord("0") + digits // 10 ** (3 - position) % 10
    chars[:, 4] = ord("-")
    for position in range(5):
        chars[:, 5 + position] = ord("A") + letters // 26 ** (4 - position) % 26
    offsets = np.arange(0, 10 * rows + 1, 10, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(chars))


def _total_charges_text(total_cents: np.ndarray) -> pa.Array:
    """Shortest decimal text ("1889.5", "108.15"), " " for customers never billed."""
    text = pa.array(total_cents / 100.0).cast(pa.string())
    return pc.if_else(pa.array(total_cents < 0), " ", text)


def _assemble_frame(
    customer_ids: pa.Array,
    codes: dict[str, np.ndarray],
    tenure: np.ndarray,
    monthly: np.ndarray,
    total_cents: np.ndarray,
) -> pd.DataFrame:
    """The frame pandas would read from the public file: text columns, ints, floats."""
    columns: dict[str, pa.Array] = {
        schema.ID_COLUMN: customer_ids.cast(pa.string()),
        "SeniorCitizen": pa.array(codes["SeniorCitizen"].astype(np.int64)),
        "tenure": pa.array(tenure),
        "MonthlyCharges": pa.array(monthly),
        "TotalCharges": _total_charges_text(total_cents),
        schema.LABEL_COLUMN: _category_text(schema.LABEL_VALUES, codes[schema.LABEL_COLUMN]),
    }
    for name, values in schema.CATEGORICAL_VALUES.items():
        columns[name] = _category_text(values, codes[name])
    table = pa.table([columns[name] for name in schema.COLUMNS], names=list(schema.COLUMNS))
    return table.to_pandas()


def _category_text(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, type=pa.string()), pa.array(codes))
