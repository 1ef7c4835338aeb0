"""Instrumentors that record Twilio, SendGrid and OpenAI usage automatically (one line in the app).

    from usage_ledger_client.instrumentation import instrument_all
    instrument_all()            # Twilio, SendGrid, OpenAI, and httpx so HTTP spans join the same traces

Each instrumentor is an OpenTelemetry `BaseInstrumentor` (`.instrument()` / `.uninstrument()`), also
registered as an `opentelemetry_instrumentor` entry point (so `opentelemetry-instrument` turns them on);
an SDK that is not installed is skipped. The class names say "Usage" (`OpenAIUsageInstrumentor`, ...) so they
are never mistaken for contrib instrumentors of the same SDKs, which they work beside. Content (SMS bodies,
email subjects, prompts/completions) is kept out of the usage metadata unless
`instrument(capture_content=True)` or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from usage_ledger_client.instrumentation._common import telemetry_errors, usage_event_type, usage_metadata
from usage_ledger_client.instrumentation.openai import OpenAIUsageInstrumentor
from usage_ledger_client.instrumentation.sendgrid import SendGridUsageInstrumentor
from usage_ledger_client.instrumentation.twilio import TwilioUsageInstrumentor

__all__ = [
    "OpenAIUsageInstrumentor",
    "SendGridUsageInstrumentor",
    "TwilioUsageInstrumentor",
    "instrument_all",
    "telemetry_errors",
    "uninstrument_all",
    "usage_event_type",
    "usage_metadata",
]

_VENDORS = (
    ("twilio", TwilioUsageInstrumentor),
    ("sendgrid", SendGridUsageInstrumentor),
    ("openai", OpenAIUsageInstrumentor),
)
_turned_on: list[Any] = []  # what instrument_all() switched on, so uninstrument_all() leaves the rest alone


def instrument_all(**kwargs: Any) -> list[str]:
    """Instrument every installed vendor SDK and httpx; returns the names instrumented. kwargs go to each.

    Anything already instrumented (by the app, or an earlier call) is left as it is.
    """
    done: list[str] = []
    for package, instrumentor in _VENDORS:
        if importlib.util.find_spec(package) is not None and not instrumentor().is_instrumented_by_opentelemetry:
            instrumentor().instrument(**kwargs)
            if instrumentor().is_instrumented_by_opentelemetry:  # not skipped for an unsupported version
                _turned_on.append(instrumentor())
                done.append(package)
    httpx = _httpx_instrumentor()
    if httpx is not None and not httpx.is_instrumented_by_opentelemetry:
        httpx.instrument(tracer_provider=kwargs.get("tracer_provider"))
        _turned_on.append(httpx)
        done.append("httpx")
    return done


def uninstrument_all() -> None:
    """Undo what instrument_all() did (instrumentation the app turned on itself stays on)."""
    while _turned_on:
        instrumentor = _turned_on.pop()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def _httpx_instrumentor() -> Any:
    # httpx is always there (our transport); its instrumentation only with the `httpx` extra.
    if importlib.util.find_spec("opentelemetry.instrumentation.httpx") is None:
        return None
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    return HTTPXClientInstrumentor()
