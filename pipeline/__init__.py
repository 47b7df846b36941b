"""churn pipeline: an end-to-end customer-churn model, local first, Vertex AI ready."""

import os

# Quiet TensorFlow's C++ start-up chatter. oneDNN's reordered float sums are switched off
# too: predictions then match across TF versions (the 2.15 serving image) and runs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF 2.21 logs a harmless NodeDef error per model load
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
