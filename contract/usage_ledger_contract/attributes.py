"""OpenTelemetry names that carry usage: the client library writes them, the ledger's OTLP receiver reads them.

A usage record travels as a span event named USAGE_EVENT_NAME (on the provider call's span, or on a short
span of its own) whose attributes are the `usage.*` ones named in fields.py. A span that itself carries
`usage.source` etc. is read the same way, for senders that cannot add span events.
"""

from __future__ import annotations

from typing import Final

from usage_ledger_contract import fields

USAGE_EVENT_NAME: Final = "usage"

# The attribute names, as defined with their fields in fields.py.
TENANT_ID: Final = fields.TENANT_ID.attribute
SOURCE: Final = fields.SOURCE.attribute
EVENT_TYPE: Final = fields.EVENT_TYPE.attribute
UNITS: Final = fields.UNITS.attribute
IDEMPOTENCY_KEY: Final = fields.IDEMPOTENCY_KEY.attribute
OCCURRED_AT: Final = fields.OCCURRED_AT.attribute
METADATA: Final = fields.METADATA.attribute

# The fields carried as attributes, and those a usage record cannot do without.
CARRIED: Final = tuple(f for f in fields.ALL if f.attribute)
REQUIRED: Final = (fields.TENANT_ID, fields.SOURCE, fields.EVENT_TYPE, fields.UNITS, fields.IDEMPOTENCY_KEY)

# Set (True) on every span that carries a `usage` span event, so an OpenTelemetry Collector can route
# usage spans to the ledger with a plain attribute condition (collector/config.yaml) and send the rest
# only to the trace UI. The ledger's OTLP receiver does not treat it as usage.
SPAN_MARKER: Final = "usage.recorded"

# Baggage key carrying the tenant across process boundaries with the trace context.
BAGGAGE_TENANT: Final = "tenant.id"

# Used when usage is recorded with no tenant in scope: stored, counted and warned about, never dropped.
UNATTRIBUTED_TENANT: Final = "unattributed"

# --- GenAI usage (OpenTelemetry GenAI semantic conventions) -------------------------------------------
# The semantic-conventions version these names follow; the client's tracers carry it as their schema URL.
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"

GEN_AI_OPERATION: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"  # all input, cached included
GEN_AI_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"  # all output, reasoning included
GEN_AI_CACHE_READ_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_CACHE_CREATION_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_REASONING_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# The token counts a usage row's metadata carries, in this order, under the current names.
GEN_AI_TOKEN_COUNTS: Final = (
    GEN_AI_INPUT_TOKENS,
    GEN_AI_OUTPUT_TOKENS,
    GEN_AI_CACHE_READ_TOKENS,
    GEN_AI_CACHE_CREATION_TOKENS,
    GEN_AI_REASONING_TOKENS,
)

# Older spellings other emitters still send (earlier semantic conventions, OpenLLMetry, OpenInference,
# vendors' own), read as the current name. The current name wins when a span carries both.
GEN_AI_ALIASES: Final = {
    GEN_AI_INPUT_TOKENS: ("gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    GEN_AI_OUTPUT_TOKENS: ("gen_ai.usage.completion_tokens", "llm.token_count.completion"),
    GEN_AI_CACHE_READ_TOKENS: (
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cache_read_tokens",
        "gen_ai.usage.cached_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    GEN_AI_CACHE_CREATION_TOKENS: (
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_write_input_tokens",
        "gen_ai.usage.cache_write_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    GEN_AI_REASONING_TOKENS: (
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.reasoning_output_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    GEN_AI_PROVIDER: ("gen_ai.system",),
    GEN_AI_RESPONSE_MODEL: ("llm.model_name",),
}

# A GenAI span from another language is usage when it carries token counts and names a tenant: with
# `usage.tenant_id`, or with the baggage entry `tenant.id` copied onto the span (the OTel contrib
# BaggageSpanProcessor does that in every language). See replit.md, "Usage attributes".
GEN_AI_EVENT_TYPE: Final = "ai_message"
