"""Runs INSIDE the side environment (e.g. tensorflow-cpu 2.15, as on Vertex's prebuilt
serving image): loads a SavedModel and answers features read from JSON through every
signature it has, writing all outputs.

Standalone on purpose: it imports only TensorFlow and the standard library, so it runs
where the rest of the package is not installed.
    python compat_side.py MODEL_DIR INPUT_JSON OUTPUT_JSON
INPUT_JSON holds one list per feature (customerID included, for signatures that take it).
"""

import json
import sys


def main(model_dir: str, input_path: str, output_path: str) -> None:
    import tensorflow as tf

    with open(input_path, encoding="utf-8") as handle:
        features = json.load(handle)
    answers = {}
    for name, signature in tf.saved_model.load(model_dir).signatures.items():
        specs = signature.structured_input_signature[1]
        feeds = {key: tf.constant(features[key], dtype=spec.dtype) for key, spec in specs.items()}
        answers[name] = {key: _plain(value.numpy()) for key, value in signature(**feeds).items()}
    with open(output_path, "w", encoding="utf-8") as handle:
        json.dump({"tensorflow": tf.__version__, "signatures": answers}, handle)


def _plain(array):
    if array.dtype.kind in "SO":
        return [value.decode("utf-8") for value in array.reshape(-1)]
    return array.tolist()


if __name__ == "__main__":
    main(*sys.argv[1:4])
