"""The `usage-ledger` command: serve, migrate, demo, token; import, correct, conflicts (cli_admin.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from pydantic import ValidationError

from ledger_service.cli_admin import COMMANDS, CommandError, add_commands
from ledger_service.settings import DEV_ADMIN_KEY, DEV_INGEST_KEY, Settings

_DESCRIPTION = """\
usage-ledger: a usage-metering ledger for Twilio, SendGrid and OpenAI usage.

With no DATABASE_URL, every command starts a project-local PostgreSQL under LEDGER_DATA_DIR (.data/).
Environment: DATABASE_URL, LEDGER_INGEST_KEYS (comma-separated), LEDGER_ADMIN_KEYS, LEDGER_SECRET_KEY,
LEDGER_DATA_DIR, LEDGER_STORAGE (auto|timescaledb|postgres); see README.md for all of them.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usage-ledger", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP service (migrates the database first)")
    demo = commands.add_parser(
        "demo", help="seed a few tenants with 30 days of synthetic usage, print the URLs, then serve"
    )
    for sub in (serve, demo):
        sub.add_argument("--host", default=None, help="address to bind (default LEDGER_HOST or 127.0.0.1)")
        sub.add_argument("--port", type=int, default=None, help="port (default LEDGER_PORT or 8000)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    token = commands.add_parser(
        "token", help="print a signed read token for one tenant (Authorization: Bearer <token> on /api/billing/usage/*)"
    )
    token.add_argument("--tenant", required=True, help="the tenant id the token may read")
    token.add_argument(
        "--ttl", default=None, help="lifetime: 900, 15m, 2h or 7d (default LEDGER_READ_TOKEN_TTL_SECONDS)"
    )
    token.add_argument(
        "--page",
        metavar="BASE_URL",
        default=None,
        help="print a sign-in link to the usage page at BASE_URL (e.g. http://127.0.0.1:8000) instead",
    )
    add_commands(commands)
    return parser


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down. Leaving through SystemExit rather than
    # the signal's default action runs the atexit hooks, which stop the embedded PostgreSQL; a stop that
    # was asked for is a clean exit (0), so `make run` does not report an error for it.
    raise SystemExit(0)


def _check_port_free(host: str, port: int) -> None:
    """Fail at once, before seeding or printing links, when another process (say a second `make run`)
    already serves on the port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: connections of a stopped process still in TIME_WAIT do not count, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"usage-ledger: cannot listen on {host}:{port} ({exc.strerror}): is another usage-ledger (or "
                "`make run`) already running? Stop it, or pick another port with --port or LEDGER_PORT."
            ) from None


def _serve(settings: Settings, host: str, port: int) -> None:
    from ledger_service.server import serve

    settings.check_safe_to_bind(host)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    serve(settings, host, port)


async def _migrate(settings: Settings) -> None:
    from ledger_service.storage.database import open_database

    database = await open_database(settings)
    await database.close()
    print(f"database is migrated ({database.variant} storage)")


async def _seed(settings: Settings) -> dict[str, int]:
    from ledger_service.demo import seed_demo
    from ledger_service.ingest.service import IngestService
    from ledger_service.storage.database import open_database
    from ledger_service.storage.ledger import LedgerRepository

    database = await open_database(settings)
    try:
        return await seed_demo(IngestService(LedgerRepository(database.pool, database.variant), settings))
    finally:
        await database.close()


def _print_demo_urls(settings: Settings, host: str, port: int, stored: dict[str, int]) -> None:
    base = f"http://{host}:{port}"
    print(f"demo data: {', '.join(f'{t} (+{n} events)' for t, n in stored.items())}")
    print(f"  API docs:   {base}/schema/swagger")
    print(f"  health:     {base}/healthz   {base}/readyz")
    key = settings.ingest_key_values()[0] if settings.ingest_keys else DEV_INGEST_KEY
    print(f"  ingest:     curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\")
    print(f"                   -d '{{\"events\": [...]}}' {base}/api/usage/events")
    if DEV_ADMIN_KEY in settings.admin_key_values():
        print(f"  corrections (admin key {DEV_ADMIN_KEY}, loopback only): POST {base}/api/usage/corrections")
    if stored:
        tenant = next(iter(stored))
        print(f'  read:       curl -H "Authorization: Bearer $({_command()} token --tenant {tenant})" \\')
        print(f"                   '{base}/api/billing/usage/summary?tz=UTC'")
    print("  usage page (sign-in links valid for a day):")
    for tenant in stored:
        print(f"    {tenant:<12} {_page_link(settings, base, tenant, timedelta(days=1))}")
    if not settings.trace_url_template:
        # The demo's trace ids are made up (no trace was ever sent), so it links nowhere: a trace UI would
        # only answer "not found". The page shows each event's trace id whole, selected with one click.
        print("  traces:     each event's details show its trace id; to link rows to a trace UI, set")
        print("              LEDGER_TRACE_URL_TEMPLATE, e.g. http://localhost:16686/trace/{trace_id} (Jaeger)")
    sys.stdout.flush()


def _command() -> str:
    """How to run this command from the current shell: its name when on PATH, else its path (the venv's)."""
    if shutil.which("usage-ledger"):
        return "usage-ledger"
    script = Path(sys.argv[0])
    if script.name != "usage-ledger":  # python -m ledger_service.cli
        return f"{sys.executable} -m ledger_service.cli"
    return os.path.relpath(script.resolve()) if script.is_absolute() else str(script)


def _page_link(settings: Settings, base_url: str, tenant: str, ttl: timedelta) -> str:
    from ledger_service.tokens import mint_read_token
    from web.query import PAGE_PATH

    token = mint_read_token(settings.secret_key.get_secret_value(), tenant, ttl)
    return f"{base_url.rstrip('/')}{PAGE_PATH}?{urlencode({'token': token})}"


def _print_token(settings: Settings, tenant: str, ttl_text: str | None, page: str | None) -> None:
    from ledger_service.tokens import mint_read_token, parse_ttl

    ttl = parse_ttl(ttl_text) if ttl_text else timedelta(seconds=settings.read_token_ttl_seconds)
    if page:
        print(_page_link(settings, page, tenant, ttl))
    else:
        print(mint_read_token(settings.secret_key.get_secret_value(), tenant, ttl))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except ValidationError as exc:  # a setting is missing, malformed or too weak: say which, without a traceback
        print(f"usage-ledger: the settings are not usable:\n{exc}", file=sys.stderr)
        return 2
    host = args.host if getattr(args, "host", None) else settings.host
    port = args.port if getattr(args, "port", None) else settings.port
    if args.command == "token":
        try:
            _print_token(settings, args.tenant, args.ttl, args.page)
        except ValueError as exc:
            print(f"usage-ledger token: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command in COMMANDS:
        from ledger_service.admin_commands import run

        try:
            return asyncio.run(run(settings, args))
        except CommandError as exc:
            print(f"usage-ledger {args.command}: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C: what was acknowledged stays acknowledged
            print(f"usage-ledger {args.command}: interrupted (an import run again resumes where it stopped)")
            return 130
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "serve":
        _check_port_free(host, port)
        _serve(settings, host, port)
    elif args.command == "demo":
        settings.check_safe_to_bind(host)  # before anything is written to the database or printed
        settings = settings.with_demo_admin_key(host)
        _check_port_free(host, port)
        stored = asyncio.run(_seed(settings))
        _print_demo_urls(settings, host, port, stored)
        _serve(settings, host, port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
