"""Baselines trained on the same rows as the network: is the network worth it?"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from pipeline.training import schema

BASELINE_NAMES = ("logistic_regression", "hist_gradient_boosting")


def _categories() -> list[list[str]]:
    return [list(schema.CATEGORICAL_VALUES[name]) for name in schema.CATEGORICAL_FEATURES]


def logistic_regression(seed: int) -> Pipeline:
    """Scaled numerics + one-hot categoricals into a logistic regression."""
    prep = ColumnTransformer([
        ("numeric", StandardScaler(), list(schema.NUMERIC_FEATURES)),
        ("categorical", OneHotEncoder(categories=_categories(), handle_unknown="ignore"),
         list(schema.CATEGORICAL_FEATURES)),
    ])
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=2000, random_state=seed))])


def hist_gradient_boosting(seed: int) -> Pipeline:
    """Ordinal-coded categoricals (native categorical splits) + raw numerics."""
    prep = ColumnTransformer([
        ("categorical", OrdinalEncoder(categories=_categories(), handle_unknown="use_encoded_value",
                                       unknown_value=np.nan), list(schema.CATEGORICAL_FEATURES)),
        ("numeric", "passthrough", list(schema.NUMERIC_FEATURES)),
    ])
    is_categorical = [True] * len(schema.CATEGORICAL_FEATURES) + [False] * len(schema.NUMERIC_FEATURES)
    model = HistGradientBoostingClassifier(categorical_features=is_categorical, random_state=seed)
    return Pipeline([("prep", prep), ("model", model)])


def fit_baselines(frame: pd.DataFrame, labels: np.ndarray, seed: int) -> dict[str, Pipeline]:
    """Fit both baselines on the given training rows."""
    features = frame[list(schema.FEATURES)]
    return {
        "logistic_regression": logistic_regression(seed).fit(features, labels),
        "hist_gradient_boosting": hist_gradient_boosting(seed).fit(features, labels),
    }


def baseline_scores(model: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Churn probabilities of a fitted baseline."""
    return model.predict_proba(frame[list(schema.FEATURES)])[:, 1]
