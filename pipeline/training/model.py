"""The article's network, defined once: raw features in, churn probability out.

Dense(64, relu) -> Dense(32, relu) -> Dense(1, sigmoid), adam, binary cross-entropy.
The article's StandardScaler lives in a Normalization layer (mean and variance fit on the
training split only) and categoricals are one-hot encoded by StringLookup, so the model
and its SavedModel take raw feature values and need no pickle beside them.

encoded_view() is the same network seen from already-encoded inputs (training, in memory and
streaming, runs through it): the model's own layers and weights, the string lookups replaced by
the positions they would answer, so training it trains the model, which still takes raw strings.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.preprocessing import StandardScaler

from pipeline.config import TrainConfig  # noqa: E402
from pipeline.training import data, schema  # noqa: E402


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
    _compile(model, config, keras.optimizers.Adam(learning_rate=config.learning_rate))
    return model


def _compile(model: keras.Model, config: TrainConfig, optimizer: keras.optimizers.Optimizer) -> None:
    model.compile(
        optimizer=optimizer,
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
        # Many small steps per tf.function call: the article's batch 32 on a few thousand rows
        # is dominated by per-step overhead otherwise. The updates and their order are the same.
        steps_per_execution=config.steps_per_execution,
    )


def one_hot_offsets() -> np.ndarray:
    """Where each categorical's one-hot block starts in the concatenated encoding (int32, in
    CATEGORICAL_FEATURES order). Each block is StringLookup's: slot 0 out of vocabulary, then
    the schema's values in order."""
    widths = [len(schema.CATEGORICAL_VALUES[name]) + 1 for name in schema.CATEGORICAL_FEATURES]
    return np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int32)


def category_positions(codes: np.ndarray) -> np.ndarray:
    """(n, categoricals) codes into the schema's values (-1: not among them) -> the positions
    of the ones in the concatenated one-hot encoding, as the model's lookups would place them."""
    return codes.astype(np.int32) + (one_hot_offsets() + 1)


def encoded_features(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Validated rows as encoded_view() takes them: the numeric features (n, numerics) float32,
    and category_positions() of the categoricals (a value outside the schema: the lookup's
    out-of-vocabulary slot, as StringLookup would answer)."""
    numeric = np.stack([frame[name].to_numpy(np.float32) for name in schema.NUMERIC_FEATURES], axis=1)
    return numeric, category_positions(data.category_codes(frame))


def encoded_view(model: keras.Model, config: TrainConfig | None = None) -> keras.Model:
    """`model` (from build_model) taking encoded inputs: `numeric_features` (batch, numerics)
    float32 raw values in NUMERIC_FEATURES order, and `category_positions` (batch, categoricals)
    int32 from category_positions(). It shares the model's layers, weights and optimizer (compiled
    with them when `config` is given, for fitting), so fitting it fits the model; its outputs
    equal the model's on the same rows as raw values. Why: 15 string lookups per row and 19 input
    tensors per batch cost the fit more than the network itself, and tracing them costs every
    training seconds."""
    numeric = keras.Input(shape=(len(schema.NUMERIC_FEATURES),), name="numeric_features", dtype="float32")
    positions = keras.Input(shape=(len(schema.CATEGORICAL_FEATURES),), name="category_positions", dtype="int32")
    width = int(one_hot_offsets()[-1]) + len(schema.CATEGORICAL_VALUES[schema.CATEGORICAL_FEATURES[-1]]) + 1
    # One 1 per categorical at disjoint positions: the concatenation of the lookups' one-hots.
    encoded = keras.layers.CategoryEncoding(num_tokens=width, output_mode="multi_hot", name="one_hot")(positions)
    hidden = keras.layers.Concatenate(name="features")([model.get_layer("standard_scaler")(numeric), encoded])
    for layer in hidden_layers(model):
        hidden = layer(hidden)
    output = model.get_layer("churn_probability")(hidden)
    view = keras.Model(inputs=[numeric, positions], outputs=output, name="churn_encoded")
    if config is not None:
        _compile(view, config, model.optimizer)
    return view


def hidden_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """build_model's hidden Dense layers (dense_0, dense_1, ...), in the model's order."""
    return [layer for layer in model.layers if re.fullmatch(r"dense_\d+", layer.name)]


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
