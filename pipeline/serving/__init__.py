"""Serving: the local Vertex-compatible prediction server, its prediction log and the
model loader shared with batch scoring (`churn predict`).

    instances  request validation from the feature schema -> encoded Batch (batch)
    fastpath   the exported network evaluated in NumPy from the Keras weights
    scorer     loads a model REF (pipeline.registry.local_registry): fast path verified against the
               SavedModel, or the SavedModel itself
    batching   concurrent requests share one model call
    predlog    the SQLite prediction log (group commit) and its reader, iter_log_frames
    logexport  `churn logs export` to CSV or Parquet
    metrics    Prometheus metrics of one server
    app        the FastAPI application (routes, auth, errors)
    connections  the HTTP layer's deadlines, header cap and connection limit (uvicorn protocol)
    server     `churn serve`: exposure checks, loading, uvicorn
"""
