"""The administrators' commands of `usage-ledger`: import, correct, conflicts (arguments in cli_admin.py).

Each opens the database as `serve` does (DATABASE_URL, or the embedded server) and works through the same
services as the HTTP API, so a line imported, a correction made or a conflict listed here is exactly what the
API would have done. Corrections and backfills take an admin key (one of LEDGER_ADMIN_KEYS), which the
audit record names by its fingerprint.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ledger_service.cli_admin import ADMIN_KEY_ENV, CommandError
from ledger_service.errors import LedgerError
from ledger_service.ingest.conflicts import ConflictService
from ledger_service.ingest.corrections import CorrectionService, admin_identity
from ledger_service.ingest.importer import (
    DEFAULT_BATCH,
    ImportFileError,
    ImportPlan,
    check_file,
    first_rejects,
    guess_format,
    run_import,
)
from ledger_service.ingest.importer import Progress as ImportProgress
from ledger_service.ingest.metrics import IngestCounters
from ledger_service.ingest.model import IngestOptions
from ledger_service.ingest.service import IngestService
from ledger_service.settings import Settings
from ledger_service.storage.corrections import CorrectionsRepository
from ledger_service.storage.database import Database, open_database
from ledger_service.storage.ledger import LedgerRepository
from usage_ledger_contract.wire import Correction, CorrectionReport


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "import":
        return await _import(settings, args)
    if args.command == "correct":
        return await _correct(settings, args)
    return await _conflicts(settings, args)


def checked_admin_key(settings: Settings, given: str | None) -> str:
    key = given or os.environ.get(ADMIN_KEY_ENV)
    if not key:
        raise CommandError(f"this needs an admin key: --admin-key, or ${ADMIN_KEY_ENV} (one of LEDGER_ADMIN_KEYS)")
    if not any([hmac.compare_digest(key.encode(), k.encode()) for k in settings.admin_key_values()]):
        raise CommandError("the admin key is not one of LEDGER_ADMIN_KEYS")
    return key


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    database = await open_database(settings)
    try:
        yield database
    finally:
        await database.close()


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    plan = _import_plan(settings, args)
    try:
        check_file(plan)  # before the database is opened: a wrong header is said at once
    except ImportFileError as exc:
        raise CommandError(f"{plan.path}: {exc}") from None
    console = Console(stderr=True)
    try:
        async with _database(settings) as database:
            started = time.monotonic()  # the rate is the import's, not the database start's (the embedded one)
            service = IngestService(LedgerRepository(database.pool, database.variant), settings)
            with _progress_bar(console) as bar:
                task = bar.add_task(f"importing {plan.path.name}", total=plan.path.stat().st_size, events=0, rate=0.0)

                def show(progress: ImportProgress) -> None:
                    rate = (progress.counts.lines - progress.resumed_lines) / max(time.monotonic() - started, 1e-6)
                    bar.update(task, completed=progress.done_bytes, events=progress.counts.lines, rate=rate)

                done = await run_import(service, plan, show)
    except ImportFileError as exc:
        raise CommandError(f"{plan.path}: {exc}") from None
    except (LedgerError, OSError) as exc:  # the database is not there or went away, a file could not be read
        raise CommandError(_stopped(plan, exc)) from None
    _print_summary(plan, done, time.monotonic() - started)
    return 0


def _stopped(plan: ImportPlan, exc: Exception) -> str:
    what = exc.message if isinstance(exc, LedgerError) else str(exc)
    if not isinstance(exc, LedgerError) and getattr(exc, "filename", None) is None:
        what = f"the database is unavailable: {exc}"  # a connection refused or cut: no file named
    if plan.state_path.exists():
        return f"{what}; how far the ledger got is recorded: run the same command again to go on from there"
    return what


def _import_plan(settings: Settings, args: argparse.Namespace) -> ImportPlan:
    if args.backfill:
        checked_admin_key(settings, args.admin_key)
    elif args.admin_key:
        raise CommandError("--admin-key is needed only with --backfill")
    if not args.file.is_file():
        raise CommandError(f"{args.file} is not a file")
    batch = min(DEFAULT_BATCH, settings.max_batch_events) if args.batch is None else args.batch
    if not 1 <= batch <= settings.max_batch_events:
        raise CommandError(f"--batch must be between 1 and {settings.max_batch_events} (LEDGER_MAX_BATCH_EVENTS)")
    return ImportPlan(
        args.file,
        args.format or guess_format(args.file),
        batch_size=batch,
        options=IngestOptions(via="import", backfill=args.backfill),
        restart=args.restart,
    )


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]:,} lines"),
        TextColumn("{task.fields[rate]:,.0f} events/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


_SHOWN_REJECTS = 5


def _print_summary(plan: ImportPlan, done: ImportProgress, seconds: float) -> None:
    c = done.counts
    resumed = f" (resumed at byte {done.resumed_from:,})" if done.resumed_from else ""
    rate = (c.lines - done.resumed_lines) / max(seconds, 1e-6)
    print(f"imported {plan.path}{resumed}: {c.lines:,} lines in {seconds:,.2f} s ({rate:,.0f} lines/s)")
    print(f"  accepted {c.accepted:,}, duplicates {c.duplicates:,}, conflicts {c.conflicts:,}, rejected {c.rejected:,}")
    if c.rejected or c.conflicts:
        print(f"  rejected and conflicting lines, with their reasons: {plan.rejects_path}")
        for entry in first_rejects(plan, _SHOWN_REJECTS):
            print(f"    line {entry.line}: {entry.outcome}: {entry.field}: {entry.message}")


async def _correct(settings: Settings, args: argparse.Namespace) -> int:
    key = checked_admin_key(settings, args.admin_key)
    action = "void" if args.void else "amend"
    values = {
        "tenantId": args.tenant,
        "idempotencyKey": args.key,
        "action": action,
        "reason": args.reason,
        "correctionKey": args.correction_key or _correction_key(args.tenant, args.key, action, args.amend, args.reason),
        "units": args.amend,
        "occurredAt": args.occurred_at,
    }
    try:
        correction = msgspec.convert({k: v for k, v in values.items() if v is not None}, Correction, strict=False)
    except msgspec.ValidationError as exc:
        raise CommandError(str(exc)) from None
    async with _database(settings) as database:
        repository = CorrectionsRepository(database.pool, database.variant)
        service = CorrectionService(repository, settings, IngestCounters())
        report = await service.correct([correction], admin_identity(key))
    _print_correction(report)
    return 0 if not report.rejected else 1


def _correction_key(tenant: str, key: str, action: str, units: int | None, reason: str) -> str:
    """The same command run twice is one correction: its key comes from what it says."""
    said = "\x1f".join((tenant, key, action, str(units), reason))
    return "cli-" + hashlib.sha256(said.encode()).hexdigest()[:24]


def _print_correction(report: CorrectionReport) -> None:
    for outcome in report.corrections:
        if outcome.outcome == "rejected":
            for error in report.errors:
                print(f"rejected: {error.field}: {error.message}", file=sys.stderr)
        else:
            print(
                f"{outcome.outcome}: correction {outcome.correction_key} (row {outcome.id}) of event "
                f"{outcome.event_id}; its units are now {outcome.units}"
            )


async def _conflicts(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as database:
        service = ConflictService(CorrectionsRepository(database.pool, database.variant))
        found = await service.page(args.tenant, args.limit, None)
    if not found:
        print("no conflicts" + (f" for tenant {args.tenant}" if args.tenant else ""))
        return 0
    table = Table("id", "tenant", "idempotency key", "differs in", "times", "last seen (UTC)", "via", "sent")
    for c in found:
        seen = c.last_seen.strftime("%Y-%m-%d %H:%M:%S")
        sent = bytes(c.sent).decode()
        table.add_row(str(c.id), c.tenant_id, c.idempotency_key, ", ".join(c.fields), str(c.times), seen, c.via, sent)
    Console(width=200).print(table)
    return 0
