"""Ingest: validating usage events against the registry and storing them exactly once."""
