"""The article's network, defined once: raw features in, churn probability out.

Dense(64, relu) -> Dense(32, relu) -> Dense(1, sigmoid), adam, binary cross-entropy.
The article's StandardScaler lives in a Normalization layer (mean and variance fit on the
training split only) and categoricals are one-hot encoded by StringLookup, so the model
and its SavedModel take raw feature values and need no pickle beside them.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.preprocessing import StandardScaler

from pipeline.config import TrainConfig  # noqa: E402
from pipeline.training import schema  # noqa: E402


def fit_scaler(train_frame: pd.DataFrame) -> StandardScaler:
    """The article's StandardScaler over the numeric features of the training split."""
    return StandardScaler().fit(train_frame[list(schema.NUMERIC_FEATURES)].to_numpy(np.float64))


def build_model(scaler: StandardScaler, config: TrainConfig) -> keras.Model:
    """Compile the churn network around a fitted scaler."""
    inputs = _feature_inputs()
    numeric = keras.layers.Concatenate(name="numeric")([inputs[n] for n in schema.NUMERIC_FEATURES])
    scaled = keras.layers.Normalization(
        mean=scaler.mean_, variance=scaler.var_, name="standard_scaler"
    )(numeric)
    encoded = [_one_hot(inputs[name], name) for name in schema.CATEGORICAL_FEATURES]
    hidden = keras.layers.Concatenate(name="features")([scaled, *encoded])
    for index, units in enumerate(config.hidden_units):
        hidden = keras.layers.Dense(units, activation="relu", name=f"dense_{index}")(hidden)
    output = keras.layers.Dense(1, activation="sigmoid", name="churn_probability")(hidden)
    model = keras.Model(inputs=inputs, outputs=output, name="churn")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
        # Many small steps per tf.function call: the article's batch 32 on a few thousand rows
        # is dominated by per-step overhead otherwise. The updates and their order are the same.
        steps_per_execution=config.steps_per_execution,
    )
    return model


def _feature_inputs() -> dict[str, keras.KerasTensor]:
    return {
        name: keras.Input(shape=(1,), name=name, dtype="float32" if schema.is_numeric(name) else "string")
        for name in schema.FEATURES
    }


def _one_hot(tensor: keras.KerasTensor, name: str) -> keras.KerasTensor:
    # Vocabulary from the schema, not the data: the encoding never depends on which
    # categories a sample happens to contain. One OOV slot keeps serving robust.
    lookup = keras.layers.StringLookup(
        vocabulary=list(schema.CATEGORICAL_VALUES[name]), output_mode="one_hot", name=f"{name}_onehot"
    )
    return lookup(tensor)


def model_inputs(features: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
    """(n, 1) tensors, one per feature, as the Keras inputs take them."""
    return {
        name: tf.reshape(tf.constant(values, dtype=tf.float32 if schema.is_numeric(name) else tf.string), (-1, 1))
        for name, values in features.items()
    }
