"""The exported network evaluated in NumPy from the Keras weights.

A SavedModel signature call costs about 0.4 ms whatever the batch, while the network's
arithmetic is a few microseconds, so the server computes it directly:
  Normalization (mean, variance) -> folded into the first Dense layer's numeric rows;
  StringLookup one-hot           -> the first Dense layer's rows of the schema's values;
  Dense layers                   -> matrix products in float64.
The layout (which block of the `features` concatenation holds which feature, which
vocabulary slot holds which value) is read from the model graph, not assumed. The scorer
checks the result against the SavedModel before using it (pipeline.serving.scorer).
Training folds the network once and stores it, verified, in the run's NumPy engine file
(pipeline.serving.engine_file), so a server reads it back with NumPy alone.
`answer_outputs` then computes what the SavedModel's graph adds to the sigmoid (calibration,
interval, decision; pipeline.training.export.answer_graph) from the same float32 table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.training import schema
from pipeline.training.calibration import calibrate

NORMALIZATION_LAYER = "standard_scaler"
FEATURES_LAYER = "features"
_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0, out=x),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "linear": lambda x: x,
}


class FastPathUnavailable(Exception):
    """The Keras model does not have the layout the fast path knows how to compute."""


@dataclass(frozen=True)
class DenseLayer:
    weights: np.ndarray
    bias: np.ndarray
    activation: str


@dataclass(frozen=True)
class NumpyNetwork:
    """First Dense layer with the normalization folded into its numeric rows, applied to
    [numbers | one-hot codes] in one product; then the remaining Dense layers."""

    first_weights: np.ndarray  # (4 + sum of (vocabulary size + 1 out-of-vocabulary row), units)
    category_offsets: np.ndarray  # (15,), column of each feature's first value
    first_bias: np.ndarray
    first_activation: str
    rest: tuple[DenseLayer, ...]

    def predict(self, numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Churn probability per row from encoded inputs (see instances.Batch)."""
        rows = len(numeric)
        inputs = np.zeros((rows, self.first_weights.shape[0]))
        inputs[:, : numeric.shape[1]] = numeric
        inputs[np.arange(rows)[:, None], codes + self.category_offsets] = 1.0
        hidden = _ACTIVATIONS[self.first_activation](inputs @ self.first_weights + self.first_bias)
        for layer in self.rest:
            hidden = _ACTIVATIONS[layer.activation](hidden @ layer.weights + layer.bias)
        return hidden.reshape(-1)

    def to_document(self) -> dict[str, Any]:
        """The network as JSON-ready lists (floats print as their shortest exact repr)."""
        return {"first_weights": self.first_weights.tolist(), "category_offsets": self.category_offsets.tolist(),
                "first_bias": self.first_bias.tolist(), "first_activation": self.first_activation,
                "rest": [{"weights": layer.weights.tolist(), "bias": layer.bias.tolist(),
                          "activation": layer.activation} for layer in self.rest]}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> NumpyNetwork:
        """The network of `to_document`; ValueError/KeyError/TypeError when it is not one."""
        def dense(weights: Any, bias: Any, activation: Any) -> DenseLayer:
            layer = DenseLayer(np.asarray(weights, dtype=np.float64), np.asarray(bias, dtype=np.float64),
                               str(activation))
            if layer.activation not in _ACTIVATIONS:
                raise ValueError(f"activation {layer.activation!r}")
            if layer.weights.ndim != 2 or layer.bias.shape != layer.weights.shape[1:]:
                raise ValueError(f"a Dense layer of shape {layer.weights.shape} with bias {layer.bias.shape}")
            return layer

        first = dense(document["first_weights"], document["first_bias"], document["first_activation"])
        rest = tuple(dense(layer["weights"], layer["bias"], layer["activation"]) for layer in document["rest"])
        offsets = np.asarray(document["category_offsets"], dtype=np.intp)
        if offsets.shape != (len(schema.CATEGORICAL_FEATURES),) or offsets.max() >= len(first.weights):
            raise ValueError(f"category offsets of shape {offsets.shape}")
        for before, after in zip((first, *rest), rest, strict=False):
            if before.weights.shape[1] != after.weights.shape[0]:
                raise ValueError("Dense layers are not a chain")
        return cls(first.weights, offsets, first.bias, first.activation, rest)


def answer_outputs(raw: np.ndarray, table: dict[str, Any], threshold: float) -> dict[str, np.ndarray]:
    """The `serving_default` outputs from raw probabilities, as the graph computes them: the
    calibrated probability rounded to float32 is looked up in the float32 interval table
    (scorer.interval_table) and compared with the float32 threshold."""
    probability = calibrate(raw, table.get("calibration")).astype(np.float32)
    slot = table["inner_edges"].searchsorted(probability, side="right")  # the method: no np.* wrapper
    lower = np.minimum(table["lower"][slot], probability)
    upper = np.maximum(table["upper"][slot], probability)
    return {"churn_probability": probability, "raw_probability": np.asarray(raw, dtype=np.float32),
            "interval": np.concatenate((lower[:, None], upper[:, None]), axis=1),  # np.stack, without its Python layer
            "churn": probability >= np.float32(threshold)}


def network_from_keras(path: Path) -> NumpyNetwork:
    """Read model.keras and fold it into a NumpyNetwork, or raise FastPathUnavailable."""
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - any load failure means: use the SavedModel
        raise FastPathUnavailable(f"cannot load {path}: {exc.__class__.__name__}: {exc}") from None
    return fold_model(model)


def fold_model(model: Any) -> NumpyNetwork:
    """A loaded Keras model folded into a NumpyNetwork, or raise FastPathUnavailable."""
    try:
        return _fold(model)
    except (KeyError, ValueError, AttributeError, IndexError) as exc:
        raise FastPathUnavailable(f"unexpected model layout ({exc.__class__.__name__}: {exc})") from None


def _fold(model: Any) -> NumpyNetwork:
    dense = _dense_chain(model)
    first = dense[0]
    blocks = _feature_blocks(model)
    widths = [width for _, width in blocks]
    if sum(widths) != first.weights.shape[0]:
        raise ValueError(f"features width {sum(widths)} != first Dense input {first.weights.shape[0]}")
    starts = dict(zip([name for name, _ in blocks], np.cumsum([0, *widths[:-1]]), strict=True))
    numeric_weights, bias = _fold_normalization(model, first, int(starts[NORMALIZATION_LAYER]))
    table, offsets = _category_rows(model, first.weights, starts)
    return NumpyNetwork(first_weights=np.vstack([numeric_weights, table]),
                        category_offsets=offsets + len(numeric_weights), first_bias=bias,
                        first_activation=first.activation, rest=tuple(dense[1:]))


def _dense_chain(model: Any) -> list[DenseLayer]:
    layers = []
    for layer in model.layers:
        if type(layer).__name__ != "Dense":
            continue
        name = getattr(layer.activation, "__name__", str(layer.activation))
        if name not in _ACTIVATIONS:
            raise ValueError(f"activation {name} of {layer.name}")
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
        layers.append(DenseLayer(kernel, bias, name))
    if not layers:
        raise ValueError("no Dense layers")
    for before, after in zip(layers, layers[1:], strict=False):
        if before.weights.shape[1] != after.weights.shape[0]:
            raise ValueError("Dense layers are not a chain")
    return layers


def _source_layer(tensor: Any) -> Any:
    return tensor._keras_history[0]


def _feature_blocks(model: Any) -> list[tuple[str, int]]:
    """(name of the layer feeding each block of the `features` concatenation, width)."""
    inputs = model.get_layer(FEATURES_LAYER).input
    return [(_source_layer(t).name, int(t.shape[-1])) for t in inputs]


def _fold_normalization(model: Any, first: DenseLayer, start: int) -> tuple[np.ndarray, np.ndarray]:
    import keras

    layer = model.get_layer(NORMALIZATION_LAYER)
    if layer.invert:
        raise ValueError("inverted Normalization")
    order = [_source_layer(t).name for t in _source_layer(layer.input).input]
    if sorted(order) != sorted(schema.NUMERIC_FEATURES):
        raise ValueError(f"numeric inputs {order}")
    mean = np.asarray(layer.mean, dtype=np.float64).reshape(-1)
    std = np.maximum(np.sqrt(np.asarray(layer.variance, dtype=np.float64).reshape(-1)),
                     keras.backend.epsilon())
    rows = first.weights[start:start + len(order)] / std[:, None]
    bias = first.bias - (mean / std) @ first.weights[start:start + len(order)]
    by_name = dict(zip(order, rows, strict=True))
    return np.stack([by_name[name] for name in schema.NUMERIC_FEATURES]), bias


def _category_rows(model: Any, weights: np.ndarray, starts: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """First-layer rows of each schema value, in schema order, then the out-of-vocabulary
    row (an unknown value's code is len(values)), features stacked."""
    rows: list[np.ndarray] = []
    offsets: list[int] = []
    for name, values in schema.CATEGORICAL_VALUES.items():
        layer = model.get_layer(f"{name}_onehot")
        if _source_layer(layer.input).name != name:
            raise ValueError(f"{layer.name} does not read {name}")
        vocabulary = [str(v) for v in layer.get_vocabulary()]
        start = int(starts[layer.name])
        offsets.append(sum(len(r) for r in rows))
        oov = vocabulary.index(layer.oov_token)
        rows.append(weights[[start + vocabulary.index(value) for value in values] + [start + oov]])
    return np.concatenate(rows), np.array(offsets, dtype=np.intp)
