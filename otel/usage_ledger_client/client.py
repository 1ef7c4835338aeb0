"""configure() / flush() / shutdown() / metrics(): the app-facing lifecycle of the usage pipeline."""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from usage_ledger_client import _runtime, spans
from usage_ledger_client.config import DeliveryConfig
from usage_ledger_client.errors import UsageValidationError
from usage_ledger_client.pipeline import Pipeline
from usage_ledger_client.stats import UsageClientMetrics
from usage_ledger_contract.limits import DEFAULT_MAX_METADATA_BYTES

log = logging.getLogger(__name__)

ENV_URL = "USAGE_LEDGER_URL"
ENV_KEY = "USAGE_LEDGER_INGEST_KEY"
ENV_SPOOL_DIR = "USAGE_LEDGER_SPOOL_DIR"
ENV_DURABLE = "USAGE_LEDGER_DURABLE"

_exit_timeout = 5.0
_join_timeout = 15.0
_exit_hooks_registered = False


def configure(
    ledger_url: str | None = None,
    ingest_key: str | None = None,
    *,
    spool_dir: str | os.PathLike[str] | None = None,
    durable: bool | None = None,
    fsync: bool = False,
    batch_size: int = 1000,
    max_delay: float = 1.0,
    max_queue: int = 10_000,
    http_timeout: float = 10.0,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
    exit_timeout: float = 5.0,
    adopt_interval: float = 30.0,
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES,
    tracer_provider: trace.TracerProvider | None = None,
) -> None:
    """Start delivering usage to the ledger. Missing arguments come from USAGE_LEDGER_* environment variables.

    Calling it again replaces the running pipeline (after flushing it). Events recorded before the first
    call are delivered too. A child process forked after this call delivers its own usage on its own.
    """
    url = _required(ledger_url, ENV_URL, "ledger_url")
    key = _required(ingest_key, ENV_KEY, "ingest_key")
    if batch_size < 1 or max_queue < 1 or max_delay <= 0:
        raise UsageValidationError("batch_size", "batch_size and max_queue must be >= 1 and max_delay > 0")
    config = DeliveryConfig(
        ledger_url=url,
        ingest_key=key,
        spool_dir=_spool_dir(spool_dir),
        durable=_env_flag(ENV_DURABLE) if durable is None else durable,
        fsync=fsync,
        batch_size=batch_size,
        max_delay=max_delay,
        max_queue=max_queue,
        http_timeout=http_timeout,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        adopt_interval=adopt_interval,
    )
    with _runtime.lock:
        _stop_pipeline(timeout=exit_timeout)
        global _exit_timeout, _join_timeout
        _exit_timeout, _join_timeout = exit_timeout, http_timeout + 5.0
        _runtime.max_metadata_bytes = max_metadata_bytes
        spans.use_tracer_provider(_tracer_provider(tracer_provider))
        pipeline = Pipeline(config, _runtime.stats)
        waiting = _runtime.pending.events
        while waiting:  # recorded before configure() or after a shutdown()
            pipeline.submit(waiting.popleft())
        _runtime.pipeline = pipeline
        _register_exit_hooks()


def flush(timeout: float = 30.0) -> bool:
    """Block until every event recorded so far is settled with the ledger; False if `timeout` ran out first."""
    pipeline = _runtime.pipeline
    return pipeline.flush(timeout) if pipeline is not None else not _runtime.pending.events


def shutdown(timeout: float | None = None) -> bool:
    """Flush for up to `timeout` seconds, then stop; undelivered events stay in the spool. Idempotent."""
    with _runtime.lock:
        return _stop_pipeline(_exit_timeout if timeout is None else timeout)


def metrics() -> UsageClientMetrics:
    """A frozen snapshot of the client's counters (recorded, queued, spooled, sent, duplicates, rejected, ...)."""
    pipeline = _runtime.pipeline
    if pipeline is None:
        return _runtime.stats.snapshot(queued=len(_runtime.pending))
    return pipeline.metrics()


def _stop_pipeline(timeout: float) -> bool:
    pipeline, _runtime.pipeline = _runtime.pipeline, None
    if pipeline is None:
        return True
    delivered = pipeline.shutdown(timeout, _join_timeout)
    # A caller that raced with shutdown may have queued after the final spill: keep it for the next configure().
    _runtime.pending.events.extend(pipeline.leftovers())
    return delivered


def _tracer_provider(given: trace.TracerProvider | None) -> trace.TracerProvider:
    """The app's SDK provider when there is one (its spans keep going to its exporters), else a new global one."""
    if given is not None:
        return given
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({}))
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def _spool_dir(given: str | os.PathLike[str] | None) -> Path:
    directory = given or os.environ.get(ENV_SPOOL_DIR)
    if directory:
        return Path(directory)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "usage-ledger"


def _required(value: str | None, env: str, field: str) -> str:
    found = value or os.environ.get(env)
    if not found:
        raise UsageValidationError(field, f"pass it to configure() or set {env}")
    return found


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _register_exit_hooks() -> None:
    global _exit_hooks_registered
    if _exit_hooks_registered:
        return
    _exit_hooks_registered = True
    atexit.register(_at_exit)
    # multiprocessing's children end with os._exit(), which skips atexit; its own exit hooks still run
    # there (pool workers that finish normally, Process.run returning), re-registered in each child.
    multiprocessing.util.register_after_fork(_at_exit, _in_multiprocessing_child)


def _in_multiprocessing_child(_: object) -> None:
    multiprocessing.util.Finalize(None, _at_exit, exitpriority=100)


def _at_exit() -> None:
    shutdown()
    if _runtime.pending.events:
        log.warning("%d usage events were recorded but never configured for delivery", len(_runtime.pending))
