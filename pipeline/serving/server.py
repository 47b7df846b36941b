"""`churn serve`: safety checks, model and log loading, then uvicorn with one worker."""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.config import Config
from pipeline.core.tensorflow_setup import configure_tensorflow
from pipeline.errors import ServingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """Command-line choices beyond config.serve."""

    ref: str
    host: str
    port: int
    engine: str = "auto"
    log_sync: str = "normal"
    allow_unauthenticated: bool = False
    access_log: bool = False


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, allow_unauthenticated: bool, token_env: str) -> None:
    """Refuse to serve beyond this machine without a token unless explicitly allowed."""
    if is_loopback(host) or token or allow_unauthenticated:
        return
    raise ServingError(
        f"refusing to serve on {host} without authentication: anyone who can reach this address "
        f"could use the model. Set {token_env} to a secret token (clients then send "
        "'Authorization: Bearer <token>'), bind 127.0.0.1, or pass --allow-unauthenticated")


def auth_token(config: Config) -> str | None:
    """The bearer token from the environment variable config.serve.auth_token_env."""
    return os.environ.get(config.serve.auth_token_env) or None


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket, or a ServingError saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServingError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port "
                           "or stop what is using it") from None
    sock.set_inheritable(True)
    return sock


def run_uvicorn(app: Any, sock: socket.socket, access_log: bool = False) -> None:
    """Serve `app` on `sock` with one uvicorn worker (the setup bench/bench_serve.py reuses)."""
    import uvicorn

    config = uvicorn.Config(app, workers=1, log_level="warning", access_log=access_log,
                            server_header=False, lifespan="off", timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


def _single_threaded_blas() -> None:
    # The server multiplies tiny matrices; BLAS worker threads only add wake-up latency and
    # fight the event loop for the cores.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1)


def _freeze_startup_objects() -> None:
    # TensorFlow and Keras leave ~400k long-lived objects: a full collection walks them all
    # (about 200 ms, a latency spike). Freezing moves them out of the collector's sight.
    gc.collect()
    gc.freeze()


def serve(config: Config, options: ServeOptions, announce: Callable[[str], None] = print) -> None:
    """Load the model, open the prediction log and serve until interrupted."""
    from pipeline.serving.app import ServeSettings, create_app
    from pipeline.serving.predlog import PredictionLog
    from pipeline.serving.scorer import load_scorer

    configure_tensorflow()  # before the scorer may load TensorFlow
    token = auth_token(config)
    check_exposure(options.host, token, options.allow_unauthenticated, config.serve.auth_token_env)
    sock = bind_socket(options.host, options.port)
    announce(f"loading {options.ref} ...")
    try:
        scorer = load_scorer(config, options.ref, options.engine)
        prediction_log = PredictionLog(config.paths.prediction_log, options.log_sync).open()
    except BaseException:
        sock.close()
        raise
    settings = ServeSettings(max_instances=config.serve.max_instances,
                             max_body_bytes=config.serve.max_body_bytes,
                             model_names=frozenset({config.registry.model_name, scorer.name}), token=token,
                             batch_window_ms=config.serve.batch_window_ms,
                             monitoring_dir=config.paths.monitoring)
    app = create_app(scorer, prediction_log, settings)
    _single_threaded_blas()
    _freeze_startup_objects()
    announce(f"serving {scorer.name} version {scorer.version_id} (engine {scorer.engine}) on "
             f"http://{options.host}:{options.port} - auth {'on' if token else 'off'}, "
             f"prediction log {config.paths.prediction_log} (sync {options.log_sync})")
    try:
        run_uvicorn(app, sock, options.access_log)
    finally:
        app.state.batcher.close()
        prediction_log.close()
        sock.close()
