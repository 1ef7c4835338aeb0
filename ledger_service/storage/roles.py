"""The ledger's three database roles, scoped to its own database (issue 12).

Roles are cluster-wide while a ledger lives in one database, and several deployments' ledgers often share
a cluster. So each ledger database has roles of its own: `<database>_ledger_reader`, `..._writer` and
`..._analyst` by default (LEDGER_READER_ROLE, LEDGER_WRITER_ROLE, LEDGER_ANALYST_ROLE name others). The
names a database was first migrated with are recorded in its ledger_meta and kept from then on.

Migrations are written with the canonical names ledger_reader / ledger_writer / ledger_analyst, and the
migration runner writes this database's names in their place when it applies one (`Roles.substitute`):
checksums stay those of the files as written. Role names are plain lowercase identifiers (the rule below),
so a name reads the same inside a quoted identifier, a string literal or a function body.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ledger_service.errors import MigrationError
from ledger_service.storage.sql import query

KINDS = ("reader", "writer", "analyst")
CANONICAL = {kind: f"ledger_{kind}" for kind in KINDS}
# What LEDGER_*_ROLE accepts (settings.py repeats the pattern), and every derived name matches it too.
NAME_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated
_SUFFIX_ROOM = len("_ledger_analyst")  # the longest suffix
_DIGEST_CHARS = 8

Connection = asyncpg.Connection | PoolConnectionProxy

# A canonical name as a whole string literal ('ledger_reader': the role's name as text), as a quoted
# identifier, or as a bare identifier that is not part of a longer one (ledger_readers, x.ledger_reader).
_CANONICAL_NAME = "ledger_(?:reader|writer|analyst)"
_IN_MIGRATION = re.compile(
    rf"'(?P<literal>{_CANONICAL_NAME})'|\"(?P<quoted>{_CANONICAL_NAME})\"|(?<![\w$.])(?P<bare>{_CANONICAL_NAME})(?![\w$])"
)


@dataclass(frozen=True, slots=True)
class Roles:
    reader: str
    writer: str
    analyst: str

    def __post_init__(self) -> None:
        for kind in KINDS:
            if not re.match(NAME_PATTERN, self.name(kind)):
                raise ValueError(f"role name {self.name(kind)!r} is not a lowercase identifier ({NAME_PATTERN})")

    def name(self, kind: str) -> str:
        name: str = getattr(self, kind)
        return name

    def names(self) -> list[str]:
        return [self.name(kind) for kind in KINDS]

    def substitute(self, sql: str) -> str:
        """`sql` with each canonical role name replaced by this database's: a literal by a literal, an
        identifier by a quoted identifier (a role may be called `user` or `order`)."""

        def replace(match: re.Match[str]) -> str:
            canonical = match.group("literal") or match.group("quoted") or match.group("bare")
            name = self.name(canonical.removeprefix("ledger_"))
            return f"'{name}'" if match.group("literal") else f'"{name}"'

        return _IN_MIGRATION.sub(replace, sql)


@dataclass(frozen=True, slots=True)
class ConfiguredRoles:
    """Role names the settings ask for; None: the recorded name, else the one derived from the database."""

    reader: str | None = None
    writer: str | None = None
    analyst: str | None = None

    def name(self, kind: str) -> str | None:
        name: str | None = getattr(self, kind)
        return name


def derived(database: str) -> Roles:
    """`<database>_ledger_<kind>`, never one of the old cluster-wide names. A database name that is not a
    lowercase identifier, or too long for the suffix, is cut to fit and made unique again by a digest."""
    base = re.sub(r"[^a-z0-9_]", "_", database.lower())
    if not re.match(r"^[a-z_]", base):
        base = f"d{base}"
    if base != database or len(base) + _SUFFIX_ROOM > _MAX_IDENTIFIER_BYTES:
        digest = hashlib.sha256(database.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
        base = f"{base[: _MAX_IDENTIFIER_BYTES - _SUFFIX_ROOM - _DIGEST_CHARS - 1]}_{digest}"
    return Roles(*(f"{base}_ledger_{kind}" for kind in KINDS))


def choose(configured: ConfiguredRoles, database: str, recorded: dict[str, str]) -> tuple[Roles, list[str]]:
    """The roles to migrate with, and the kinds whose name is not recorded yet; a configured name that
    differs from the recorded one is a problem (ValueError): the policies and grants name the recorded one."""
    default = derived(database)
    names: dict[str, str] = {}
    for kind in KINDS:
        given, kept = configured.name(kind), recorded.get(kind)
        if kept is not None and given not in (None, kept):
            raise ValueError(
                f"LEDGER_{kind.upper()}_ROLE is {given!r} but this database's {kind} role is {kept!r} (recorded "
                "when it was first migrated); unset the setting, or set it to the recorded name"
            )
        names[kind] = kept or given or default.name(kind)
    return Roles(**names), [kind for kind in KINDS if kind not in recorded]


async def resolve(conn: Connection, configured: ConfiguredRoles) -> Roles:
    """This database's roles (recording them on first use); MigrationError when a setting contradicts them."""
    recorded = {kind: value for kind in KINDS if (value := await conn.fetchval(query("get_meta"), f"{kind}_role"))}
    database: str = await conn.fetchval("SELECT current_database()")
    try:
        roles, unrecorded = choose(configured, database, recorded)
    except ValueError as exc:
        raise MigrationError(str(exc)) from None
    for kind in unrecorded:
        await conn.execute(query("set_meta"), f"{kind}_role", roles.name(kind))
    return roles


async def ensure(conn: Connection, roles: Roles) -> None:
    """The roles exist and this login may act as the reader and holds the writer's privileges (the writer
    policies must apply to it). Creates or grants what is missing when the login may (superuser or
    CREATEROLE); otherwise MigrationError with the statements an operator runs once."""
    status = {r["name"]: r for r in await conn.fetch(query("role_status"), roles.names())}
    missing = [name for name in roles.names() if not status[name]["present"]]
    ungranted = [name for name, held in ((roles.reader, "member"), (roles.writer, "usage")) if not status[name][held]]
    if not missing and not ungranted:
        return
    powers = await conn.fetchrow(query("login_powers"))
    assert powers is not None  # current_user always has a pg_roles row
    if not (powers["rolsuper"] or powers["rolcreaterole"]):
        raise MigrationError(_operator_advice(powers["login"], missing, ungranted))
    try:
        for name in missing:
            await _run_formatted(conn, "create_role_statement", name)
        for name in ungranted:
            await _run_formatted(conn, "grant_role_statement", name)
    except asyncpg.InsufficientPrivilegeError as exc:
        raise MigrationError(f"{exc}; {_operator_advice(powers['login'], missing, ungranted)}") from None


async def _run_formatted(conn: Connection, statement: str, name: str) -> None:
    # Identifiers cannot be $n parameters: the server formats the statement (format %I), then it runs.
    # Another process may have created or granted it a moment ago.
    with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
        await conn.execute(await conn.fetchval(query(statement), name))


def _operator_advice(login: str, missing: list[str], ungranted: list[str]) -> str:
    statements = [f"CREATE ROLE {name} NOLOGIN;" for name in missing]
    statements += [f"GRANT {name} TO {_identifier(login)};" for name in ungranted]
    return (
        f"the login {login!r} may not create roles, and this ledger's roles are not set up; a superuser runs once "
        f"(README, 'One database per deployment'): {' '.join(statements)}"
    )


def _identifier(name: str) -> str:
    """`name` as SQL writes it (role names of ours need no quotes; a login's may)."""
    if re.match(r"^[a-z_][a-z0-9_]*$", name):
        return name
    return '"' + name.replace('"', '""') + '"'
