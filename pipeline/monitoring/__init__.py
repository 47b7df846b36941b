"""Skew and drift monitoring with the statistics of Vertex AI Model Monitoring v1.

Import from the modules themselves (pipeline.monitoring.compare, .stats, .distance, ...):
the package imports nothing, so the server's drift gauges and `churn monitoring status`
(pipeline.monitoring.gauges) start without pandas, which the statistics need (~0.5 s).
"""
