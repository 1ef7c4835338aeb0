"""This database's role names (storage/roles.py): derived per database, substituted into every migration."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service.settings import _ROLE_NAME, Settings
from ledger_service.storage import migrations
from ledger_service.storage.roles import CANONICAL, NAME_PATTERN, ConfiguredRoles, Roles, choose, derived
from tests.support.schema import committed

OWN = Roles("acme_r", "acme_w", "acme_a")
# Any database name PostgreSQL accepts: up to 63 bytes of anything but NUL.
DATABASE_NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=63).filter(
    lambda n: 0 < len(n.encode()) <= 63
)


@given(DATABASE_NAMES)
def test_derived_names_fit_postgres_and_are_plain_identifiers(database: str) -> None:
    for name in derived(database).names():
        assert re.match(NAME_PATTERN, name) and len(name.encode()) <= 63, name
        assert name not in CANONICAL.values()  # never the old cluster-wide roles


@given(DATABASE_NAMES, DATABASE_NAMES)
def test_two_databases_never_share_a_role(first: str, second: str) -> None:
    if first != second:
        assert not set(derived(first).names()) & set(derived(second).names())


def test_a_plain_database_name_reads_in_its_roles() -> None:
    assert derived("acme_usage") == Roles(
        "acme_usage_ledger_reader", "acme_usage_ledger_writer", "acme_usage_ledger_analyst"
    )
    assert derived("ledger").reader == "ledger_ledger_reader"  # not the old cluster-wide ledger_reader
    long = derived("x" * 63).analyst  # the longest suffix
    assert long.startswith("x" * 39 + "_") and long.endswith("_ledger_analyst") and len(long) == 63
    folded = derived("Acme-Usage").reader  # a name PostgreSQL would fold differently gets a digest
    assert folded.startswith("acme_usage_") and folded != derived("acme_usage").reader


def test_identifiers_literals_and_quoted_names_are_substituted() -> None:
    sql = (
        "GRANT SELECT ON t TO ledger_reader, ledger_writer;\n"
        'CREATE POLICY p ON t FOR SELECT TO "ledger_analyst" USING (true);\n'
        "SELECT set_config('role', 'ledger_reader', true);\n"
        "EXECUTE format('GRANT %I TO ledger_writer', x); -- ledger_analyst in a comment\n"
    )
    assert OWN.substitute(sql) == (
        'GRANT SELECT ON t TO "acme_r", "acme_w";\n'
        'CREATE POLICY p ON t FOR SELECT TO "acme_a" USING (true);\n'
        "SELECT set_config('role', 'acme_r', true);\n"
        'EXECUTE format(\'GRANT %I TO "acme_w"\', x); -- "acme_a" in a comment\n'
    )


def test_longer_names_and_split_literals_are_left_alone() -> None:
    sql = "ledger_readers x.ledger_reader ledger_reader_x $ledger_reader 'ledger' || '_reader' ledger.tenant_id"
    assert OWN.substitute(sql) == sql


def test_every_migration_names_roles_only_in_ways_that_are_substituted() -> None:
    """After substitution no canonical name is left in any migration (0010+ of other issues included),
    except 0009's old names, which are written in pieces on purpose."""
    for variant in migrations.VARIANTS:
        for migration in migrations.discover(variant):
            text = OWN.substitute(migration.sql)
            assert not re.search(r"ledger_(reader|writer|analyst)\b", text), migration.name


def test_a_configured_name_must_agree_with_the_recorded_one() -> None:
    recorded = {"reader": "kept_reader"}
    roles, new = choose(ConfiguredRoles(writer="acme_w"), "acme_usage", recorded)
    assert roles == Roles("kept_reader", "acme_w", "acme_usage_ledger_analyst") and new == ["writer", "analyst"]
    with pytest.raises(
        ValueError, match="LEDGER_READER_ROLE is 'other' but this database's reader role is 'kept_reader'"
    ):
        choose(ConfiguredRoles(reader="other"), "acme_usage", recorded)


def test_role_settings_take_lowercase_identifiers_only() -> None:
    assert _ROLE_NAME == NAME_PATTERN
    assert Settings(reader_role="acme_r").reader_role == "acme_r"
    for bad in ("Acme", "a-b", 'x"; DROP ROLE y; --', "x" * 64, ""):
        with pytest.raises(ValueError, match="reader_role"):
            Settings(reader_role=bad)


@pytest.mark.parametrize("variant", migrations.VARIANTS)
def test_every_tenant_filter_checks_the_proof(variant: str) -> None:
    """A view or policy that trusted ledger.tenant_id as it is would let a reader choose its tenant again
    (migration 0009): in the committed schema only ledger_read_tenant() reads the setting, and every tenant
    view and reader policy goes through it."""
    parts = re.split(r"\n(?=\S)", committed(variant).read_text())
    readers = [p.split("\n")[0] for p in parts if "current_setting('ledger.tenant_id'" in p]
    assert readers == ["routine ledger_read_tenant() grants OWNER=X/OWNER,READER=X/OWNER"]
    views = [p for p in parts if re.match(r"relation \w+_tenant kind=v", p)]
    policies = [line for p in parts for line in p.split("\n") if line.startswith("  policy ") and " to READER " in line]
    # The views: ledger, three rollups, marks, corrections; the policies: the ledger and rollups on plain
    # PostgreSQL (RLS), usage_corrections (a plain table) on both.
    assert len(views) == 6 and len(policies) == (4 if variant == "postgres" else 1)
    for text in [*views, *policies]:
        assert (
            "tenant_id = (( SELECT ledger_read_tenant()" in text or "tenant_id = ( SELECT ledger_read_tenant()" in text
        )
