"""Fault tests use the client library in this process too: start and end each test with no pipeline."""

from tests.test_otel.conftest import _clean_client as _clean_client
