"""What the three usage instrumentors share as OpenTelemetry instrumentors (contrib conventions).

- `instrument()` checks `instrumentation_dependencies()` itself, even when auto-instrumentation
  (`opentelemetry-instrument`) asks it not to: one distribution ships three instrumentors, so its
  entry points cannot be filtered per vendor by the distribution's `instruments` extra. An SDK that is not
  installed is skipped quietly; one outside the supported range is skipped with a warning.
- Tracers carry the library's version and the schema URL of the semantic conventions we follow.
- The content switch is OpenTelemetry's own, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT.
- Our wrapper goes under any instrumentation already patching the same method (contrib openai-v2, say),
  whatever order they were turned on in, so when the call runs their CLIENT span is already current and
  we add the usage event to it instead of making a second one (see _spans.py).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Collection
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.dependencies import DependencyConflictError, get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from usage_ledger_client.version import __version__
from usage_ledger_contract.attributes import SCHEMA_URL

log = logging.getLogger("usage_ledger_client.instrumentation")

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# "true" on the stable path; the experimental GenAI modes name where content goes, any of them means "capture".
_CAPTURE_VALUES = frozenset({"true", "1", "span_only", "event_only", "span_and_event"})

Wrapper = Callable[[Callable[..., Any], Any, Any, Any], Any]
# What other instrumentations leave on a class: their wrapper, or (after a contrib `unwrap()` read the
# attribute through the class) the next wrapper bound to the class.
_WRAPPERS = (wrapt.FunctionWrapper, wrapt.BoundFunctionWrapper)


def capture_content(kwargs: dict[str, Any]) -> bool:
    given = kwargs.get("capture_content")
    if given is not None:
        return bool(given)
    return os.environ.get(ENV_CAPTURE_CONTENT, "").strip().lower() in _CAPTURE_VALUES


def tracer_for(module: str, kwargs: dict[str, Any]) -> trace.Tracer:
    return trace.get_tracer(module, __version__, kwargs.get("tracer_provider"), schema_url=SCHEMA_URL)


class UsageInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """A BaseInstrumentor whose `instrument()` always honours its dependency ranges (see the module doc)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        raise NotImplementedError

    def instrument(self, **kwargs: Any) -> Any:
        kwargs.pop("skip_dep_check", None)
        conflict = get_dependency_conflicts(self.instrumentation_dependencies())
        if conflict is not None:
            if kwargs.get("raise_exception_on_conflict"):
                raise DependencyConflictError(conflict)
            level = logging.DEBUG if conflict.found is None else logging.WARNING
            log.log(level, "%s skipped: %s", type(self).__name__, conflict)
            return None
        kwargs.pop("raise_exception_on_conflict", None)
        return super().instrument(skip_dep_check=True, **kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        raise NotImplementedError

    def _uninstrument(self, **kwargs: Any) -> None:
        raise NotImplementedError


def wrap_innermost(module: str, qualname: str, wrapper: Wrapper) -> None:
    """Patch `module.qualname` with `wrapper`, beneath any wrapt wrappers other instrumentations put there."""
    owner, name = _resolve(module, qualname)
    current = owner.__dict__.get(name)
    if not isinstance(current, _WRAPPERS):
        wrapt.wrap_function_wrapper(owner, name, wrapper)
        return
    node = current
    while isinstance(node.__wrapped__, _WRAPPERS):
        node = node.__wrapped__
    node.__wrapped__ = wrapt.FunctionWrapper(node.__wrapped__, wrapper)


def unwrap_ours(module: str, qualname: str, wrapper_module: str) -> None:
    """Take out the wrapper(s) defined in `wrapper_module`, wherever they sit; other instrumentations' stay."""
    owner, name = _resolve(module, qualname)
    parent: Any = None
    node = owner.__dict__.get(name)
    while isinstance(node, _WRAPPERS):
        inner = node.__wrapped__
        if getattr(node._self_wrapper, "__module__", None) == wrapper_module:
            if parent is None:
                setattr(owner, name, inner)
            else:
                parent.__wrapped__ = inner
        else:
            parent = node
        node = inner


def _resolve(module: str, qualname: str) -> tuple[Any, str]:
    owner: Any = importlib.import_module(module)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name
