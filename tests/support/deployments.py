"""Deployments sharing one cluster, set up as an operator does (README, "One database per deployment").

The operator's SQL is taken from the README itself and run statement by statement, with the README's
example deployment name replaced, so the documented setup is the tested one. Each deployment is a
non-superuser login owning a database of the same name, with the ledger's roles of that database.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from ledger_service.storage.roles import Roles, derived
from tests.support.postgres import drop_roles, with_database
from tests.test_docs.markdown import blocks

EXAMPLE = "acme_usage"  # the deployment the README's SQL is written for
EXAMPLE_PASSWORD = "a-long-random-password"


@dataclass(frozen=True)
class Deployment:
    name: str  # its login and its database
    password: str
    dsn: str  # its database, as its login
    admin_dsn: str  # its database, as the superuser who set it up
    roles: Roles

    def login_to(self, database: str) -> str:
        """A DSN for this deployment's login into another database."""
        return as_login(self.dsn, self.name, self.password, database)


def operator_sql(timescaledb: bool = False) -> list[str]:
    """The README's statements a superuser runs once per deployment (the cluster part, or the TimescaleDB
    part run in the new database), for the example deployment."""
    wanted = "CREATE EXTENSION" if timescaledb else f"CREATE ROLE {EXAMPLE} LOGIN"
    [block] = [b for b in blocks(("README.md",)) if b.lang == "sql" and wanted in b.body]
    return [s.strip() for s in block.body.split(";\n") if s.strip() and not s.strip().startswith("--")]


def as_login(dsn: str, login: str, password: str | None, database: str) -> str:
    """`dsn`'s server, as `login` in `database`."""
    parts = urlsplit(with_database(dsn, database))
    host = parts.netloc.rsplit("@", 1)[-1]
    user = quote(login) + (f":{quote(password)}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


async def run_as_admin(dsn: str, statements: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:  # one by one: CREATE DATABASE cannot run inside a transaction block
            await conn.execute(statement)
    finally:
        await conn.close()


def create_deployment(admin_dsn: str, storage: str, prefix: str = "dep") -> Deployment:
    name, password = f"{prefix}_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)

    def ours(statement: str) -> str:
        return statement.replace(EXAMPLE_PASSWORD, password).replace(EXAMPLE, name)

    asyncio.run(run_as_admin(admin_dsn, [ours(s) for s in operator_sql()]))
    in_database = with_database(admin_dsn, name)
    if storage == "timescaledb":
        asyncio.run(run_as_admin(in_database, [ours(s) for s in operator_sql(timescaledb=True)]))
    return Deployment(name, password, as_login(admin_dsn, name, password, name), in_database, derived(name))


def drop_deployment(admin_dsn: str, deployment: Deployment) -> None:
    asyncio.run(run_as_admin(admin_dsn, [f'DROP DATABASE IF EXISTS "{deployment.name}" WITH (FORCE)']))
    asyncio.run(drop_roles(admin_dsn, [*deployment.roles.names(), deployment.name]))


@contextmanager
def deployments(admin_dsn: str, storage: str, count: int) -> Iterator[list[Deployment]]:
    made: list[Deployment] = []
    try:
        for _ in range(count):
            made.append(create_deployment(admin_dsn, storage))
        yield made
    finally:
        for deployment in made:
            drop_deployment(admin_dsn, deployment)


def create_login(admin_dsn: str, grants: list[str]) -> tuple[str, str]:
    """A login of its own (name, password) holding `grants` (GRANT statements' `TO` part is added)."""
    name, password = f"login_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    statements = [f"CREATE ROLE {name} LOGIN PASSWORD '{password}'", *(f"{g} TO {name}" for g in grants)]
    asyncio.run(run_as_admin(admin_dsn, statements))
    return name, password


def drop_login(admin_dsn: str, name: str) -> None:
    """Drop a login made by create_login: DROP OWNED first takes back its grants on databases as well."""
    asyncio.run(run_as_admin(admin_dsn, [f"DROP OWNED BY {name}", f"DROP ROLE {name}"]))
