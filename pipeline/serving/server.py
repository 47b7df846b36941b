"""`churn serve`: safety checks, model and log loading, then uvicorn with one worker."""

from __future__ import annotations

import copy
import gc
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.config import Config, ServeConfig
from pipeline.core.tensorflow_setup import configure_tensorflow
from pipeline.errors import ServingError
from pipeline.serving.connections import ConnectionLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """Command-line choices beyond config.serve."""

    ref: str
    host: str
    port: int
    engine: str = "auto"
    verify: bool = False  # check the NumPy engine against the SavedModel at start (loads TensorFlow)
    log_sync: str = "normal"
    allow_unauthenticated: bool = False
    access_log: bool = False
    limit_concurrency: int | None = None  # None: config.serve.limit_concurrency


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, allow_unauthenticated: bool, token_env: str) -> str | None:
    """Refuse to serve beyond this machine without a token unless explicitly allowed; when
    allowed, the one-line warning to print."""
    if is_loopback(host) or token:
        return None
    if allow_unauthenticated:
        return (f"warning: serving {host} without authentication (--allow-unauthenticated): anyone who can "
                f"reach this address can use the model; set {token_env} to require a token")
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


def connection_limits(serve: ServeConfig, limit_concurrency: int | None = None,
                      on_refused: Callable[[str], None] | None = None) -> ConnectionLimits:
    """The HTTP layer's limits from config.serve (see pipeline.serving.connections)."""
    return ConnectionLimits(limit_concurrency=limit_concurrency or serve.limit_concurrency,
                            keep_alive_timeout_s=serve.keep_alive_timeout_s,
                            header_timeout_s=serve.header_timeout_s, body_timeout_s=serve.body_timeout_s,
                            max_header_bytes=serve.max_header_bytes,
                            on_refused=on_refused or ConnectionLimits.on_refused)


DEFAULT_LIMITS = ConnectionLimits()


def uvicorn_config(app: Any, limits: ConnectionLimits = DEFAULT_LIMITS, access_log: bool = False) -> Any:
    """One uvicorn worker with the guarded protocol and the access log on stderr if asked
    (the setup bench/bench_serve.py and the tests reuse)."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from pipeline.serving.connections import guarded_protocol

    logging_config = copy.deepcopy(LOGGING_CONFIG)
    logging_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config = uvicorn.Config(
        app, workers=1, log_level="warning", log_config=logging_config, access_log=access_log,
        server_header=False, lifespan="off", timeout_graceful_shutdown=10, ws="none",
        http=guarded_protocol(limits),
        timeout_keep_alive=limits.keep_alive_timeout_s,  # type: ignore[arg-type]  # only given to call_later
        h11_max_incomplete_event_size=limits.max_header_bytes,
        # The protocol refuses connections beyond the limit at once; uvicorn's own check
        # (503 for a request when connections or tasks reach it) stays as a backstop.
        limit_concurrency=limits.limit_concurrency + 1)
    if access_log:  # log_level applies to uvicorn.access too, which would hide every line
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    return config


def run_uvicorn(app: Any, sock: socket.socket, limits: ConnectionLimits = DEFAULT_LIMITS,
                access_log: bool = False) -> None:
    """Serve `app` on `sock` until interrupted."""
    import uvicorn

    uvicorn.Server(uvicorn_config(app, limits, access_log)).run(sockets=[sock])


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
    warning = check_exposure(options.host, token, options.allow_unauthenticated, config.serve.auth_token_env)
    if warning:
        announce(warning)
    sock = bind_socket(options.host, options.port)
    announce(f"loading {options.ref} ...")
    try:
        scorer = load_scorer(config, options.ref, options.engine, options.verify)
        prediction_log = PredictionLog(config.paths.prediction_log, options.log_sync,
                                       config.serve.log_busy_timeout_ms).open()
    except BaseException:
        sock.close()
        raise
    settings = ServeSettings(max_instances=config.serve.max_instances,
                             max_body_bytes=config.serve.max_body_bytes,
                             model_names=frozenset({config.registry.model_name, scorer.name}), token=token,
                             batch_window_ms=config.serve.batch_window_ms,
                             monitoring_dir=config.paths.monitoring, body_timeout_s=config.serve.body_timeout_s)
    app = create_app(scorer, prediction_log, settings)
    limits = connection_limits(config.serve, options.limit_concurrency, app.state.metrics.observe_refused)
    _single_threaded_blas()
    _freeze_startup_objects()
    announce(f"serving {scorer.name} version {scorer.version_id} (engine {scorer.engine}) on "
             f"http://{options.host}:{options.port} - auth {'on' if token else 'off'}, "
             f"prediction log {config.paths.prediction_log} (sync {options.log_sync}); at most "
             f"{limits.limit_concurrency} connections")
    try:
        run_uvicorn(app, sock, limits, options.access_log)
    finally:
        app.state.batcher.close()
        prediction_log.close()
        sock.close()
