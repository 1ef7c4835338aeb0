"""What the usage-ledger client library and the ledger service must agree on, and nothing else.

fields (each field's Python, JSON and OpenTelemetry names), limits, rules (tenant ids, keys, units,
names), catalog (sources and event types with units and labels), wire (the JSON shapes), attributes
(the OpenTelemetry names that carry usage) and webhooks (provider webhooks → usage, with their keys).
Imports neither side, so either can be installed without the other.
"""
