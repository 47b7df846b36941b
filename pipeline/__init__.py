"""churn pipeline."""
