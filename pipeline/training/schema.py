"""The Telco customer churn schema: the one place that names columns and allowed values.

Matches the public IBM/Kaggle file WA_Fn-UseC_-Telco-Customer-Churn.csv exactly, so the
loader takes that file unchanged as well as the generated sample.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ID_COLUMN = "customerID"
LABEL_COLUMN = "Churn"
LABEL_VALUES = ("No", "Yes")

YES_NO = ("No", "Yes")
INTERNET_ADDON = ("No", "No internet service", "Yes")

CATEGORICAL_VALUES: dict[str, tuple[str, ...]] = {
    "gender": ("Female", "Male"),
    "Partner": YES_NO,
    "Dependents": YES_NO,
    "PhoneService": YES_NO,
    "MultipleLines": ("No", "No phone service", "Yes"),
    "InternetService": ("DSL", "Fiber optic", "No"),
    "OnlineSecurity": INTERNET_ADDON,
    "OnlineBackup": INTERNET_ADDON,
    "DeviceProtection": INTERNET_ADDON,
    "TechSupport": INTERNET_ADDON,
    "StreamingTV": INTERNET_ADDON,
    "StreamingMovies": INTERNET_ADDON,
    "Contract": ("Month-to-month", "One year", "Two year"),
    "PaperlessBilling": YES_NO,
    "PaymentMethod": (
        "Bank transfer (automatic)",
        "Credit card (automatic)",
        "Electronic check",
        "Mailed check",
    ),
}

# SeniorCitizen is 0/1 in the public file: numeric, fed to the network as a number.
NUMERIC_FEATURES: tuple[str, ...] = ("SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges")
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(CATEGORICAL_VALUES)

# Column order of the public file.
COLUMNS: tuple[str, ...] = (
    ID_COLUMN,
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    LABEL_COLUMN,
)
FEATURES: tuple[str, ...] = tuple(c for c in COLUMNS if c not in (ID_COLUMN, LABEL_COLUMN))


@dataclass(frozen=True)
class NumericRange:
    """Inclusive bounds a numeric feature must respect; `integer` demands whole numbers."""

    low: float
    high: float
    integer: bool = False


NUMERIC_RANGES: dict[str, NumericRange] = {
    "SeniorCitizen": NumericRange(0, 1, integer=True),
    "tenure": NumericRange(0, 72, integer=True),
    "MonthlyCharges": NumericRange(0, 1_000),
    "TotalCharges": NumericRange(0, 100_000),
}


def is_numeric(feature: str) -> bool:
    """True for features the model receives as float32 numbers."""
    return feature in NUMERIC_FEATURES


# The one rule for numbers given as text, in CSV files and in predict requests: plain ASCII
# decimal notation (an optional sign, digits with an optional fraction, an optional exponent).
# Python's float() would also take "1_000", "٣" (Arabic-Indic three), "inf" and "nan".
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_number(text: str) -> float | None:
    """The finite number `text` spells under PLAIN_NUMBER (surrounding spaces allowed), else None."""
    stripped = text.strip()
    if not PLAIN_NUMBER.fullmatch(stripped):
        return None
    number = float(stripped)
    return number if math.isfinite(number) else None
