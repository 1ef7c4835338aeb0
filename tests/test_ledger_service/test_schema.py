"""The schema a migration run leaves is the one committed in schema/<variant>.txt, and the two storage
variants offer the same relations with the same columns to the queries they share.

A failure here after an intended schema change: regenerate with `python -m tests.support.schema` and
review the diff of schema/*.txt like code."""

from __future__ import annotations

import asyncio
import difflib

import pytest

from tests.support.schema import committed, migrate_and_describe

# Plain PostgreSQL keeps its rollups in tables (bigint sums, NOT NULL); on TimescaleDB they are continuous
# aggregates (numeric sums, nullable to the catalog), and so are their tenant views (migration 0008: the
# summary casts its sums, not every row). Same column names; the summary query casts its sums to bigint.
DIFFERENT_TYPES = {"usage_rollup_15m", "usage_rollup_1h", "usage_rollup_tenant", "usage_rollup_1h_tenant"}


def test_a_migrated_database_matches_the_committed_schema(database_url: str, storage: str) -> None:
    actual = asyncio.run(migrate_and_describe(database_url, storage))
    expected = committed(storage).read_text()
    made_on, running_on = expected.splitlines()[0], actual.splitlines()[0]
    if made_on != running_on:
        pytest.skip(
            f"{committed(storage).name} was made on {made_on[7:]}, this server is {running_on[7:]}: the "
            "catalogs print differently; run on the default servers (no DATABASE_URL) to compare"
        )
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "committed", "migrated"))
    assert actual == expected, f"{committed(storage).name} is out of date (python -m tests.support.schema):\n{diff}"


def test_both_variants_offer_the_same_relations_and_columns() -> None:
    postgres, timescaledb = (columns(committed(variant).read_text()) for variant in ("postgres", "timescaledb"))
    assert sorted(postgres) == sorted(timescaledb)
    for relation, cols in postgres.items():
        if relation in DIFFERENT_TYPES:
            assert [c.split()[1] for c in cols] == [c.split()[1] for c in timescaledb[relation]], relation
        else:
            assert cols == timescaledb[relation], relation


def columns(description: str) -> dict[str, list[str]]:
    """relation name -> its `column <name> <type> ...` lines, from a committed description."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in description.splitlines():
        if line.startswith("relation "):
            current = found.setdefault(line.split()[1], [])
        elif current is not None and line.startswith("  column "):
            current.append(line.strip())
        elif not line.startswith("  "):
            current = None
    return found
