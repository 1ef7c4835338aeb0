"""The client library's fixtures (a pipeline configured against the real ledger), shared with tests/test_otel."""

from tests.test_otel.conftest import _clean_client, configured, spans, spool_dir  # noqa: F401
