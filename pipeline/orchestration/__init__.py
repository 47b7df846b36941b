"""The churn pipeline as a Kubeflow Pipelines (KFP v2) graph: one component per step (validate
data, train, evaluate, gate against the champion, upload, deploy, monitoring setup), each
calling the same step functions as the `churn` commands (steps.py).

The same compiled pipeline runs on Vertex AI Pipelines (pipeline.backends.vertex.pipeline_jobs)
and here, with kfp.local's SubprocessRunner (local_run.py). Only `churn pipeline ...` imports
kfp: components.py and definition.py are never imported by other commands.
"""
