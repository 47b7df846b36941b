"""churn pipeline: an end-to-end customer-churn model, local first, Vertex AI ready.

Importing the package has no side effects; the `churn` entry point and the prediction server
call pipeline.core.tensorflow_setup.configure_tensorflow() before TensorFlow loads.
"""

__version__ = "0.1.0"
