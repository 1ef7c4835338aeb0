"""The usage-ledger service: ingest, storage and read APIs on PostgreSQL (TimescaleDB when present)."""
