"""Skip marker for tests that need a server with the timescaledb extension."""

from __future__ import annotations

import pytest

from tests.support.postgres import SQL

_STATUS = (
    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') "
    "AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
)


def require_timescaledb(sql: SQL) -> None:
    if not sql.fetchval(_STATUS):
        pytest.skip(
            "needs a PostgreSQL server with the timescaledb extension preloaded; point DATABASE_URL at one "
            "(e.g. the timescale/timescaledb image from docker-compose.yml) to run this test"
        )
