"""Training: data loading and validation, the model, baselines, evaluation, report, export, retraining."""
