"""Runs INSIDE the side environment (e.g. tensorflow-cpu 2.15, as on Vertex's prebuilt
serving image): loads a SavedModel and scores features read from JSON.

Standalone on purpose: it imports only TensorFlow and the standard library, so it runs
where the rest of the package is not installed.
    python compat_side.py MODEL_DIR INPUT_JSON OUTPUT_JSON
"""

import json
import sys


def main(model_dir: str, input_path: str, output_path: str) -> None:
    import tensorflow as tf

    with open(input_path, encoding="utf-8") as handle:
        features = json.load(handle)
    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    feeds = {name: tf.constant(features[name], dtype=spec.dtype) for name, spec in specs.items()}
    scores = signature(**feeds)["churn_probability"].numpy().reshape(-1).tolist()
    with open(output_path, "w", encoding="utf-8") as handle:
        json.dump({"tensorflow": tf.__version__, "scores": scores}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:4])
