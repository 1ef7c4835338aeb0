"""The administrators' commands of `usage-ledger` (import, correct, conflicts): their arguments.

What they do is in admin_commands.py, imported only when one of them runs (the other commands start faster).
"""

from __future__ import annotations

import argparse
from pathlib import Path

ADMIN_KEY_ENV = "LEDGER_ADMIN_KEY"
COMMANDS = ("import", "correct", "conflicts")


class CommandError(Exception):
    """A refusal to print as `usage-ledger <command>: <message>`, exit status 2."""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin_key = f"an admin key, one of LEDGER_ADMIN_KEYS (default: ${ADMIN_KEY_ENV})"
    imports = commands.add_parser("import", help="import usage events from a JSON Lines or CSV file (resumable)")
    imports.add_argument("file", type=Path, help="JSON Lines (one event per line) or CSV (a header of field names)")
    imports.add_argument("--format", choices=("jsonl", "csv"), default=None, help="default: from the file's suffix")
    imports.add_argument("--backfill", action="store_true", help="accept events older than the late window")
    imports.add_argument("--admin-key", default=None, help=f"{admin_key}; needed with --backfill")
    imports.add_argument(
        "--batch",
        type=int,
        default=None,
        help="events per ingest batch (default 10000, or LEDGER_MAX_BATCH_EVENTS if less)",
    )
    imports.add_argument("--restart", action="store_true", help="ignore where an earlier run stopped")
    correct = commands.add_parser("correct", help="void or amend a stored event (a correction row; never an edit)")
    correct.add_argument("--tenant", required=True, help="the event's tenant")
    correct.add_argument("--key", required=True, help="the event's idempotency key")
    action = correct.add_mutually_exclusive_group(required=True)
    action.add_argument("--void", action="store_true", help="take the event out of every sum")
    action.add_argument("--amend", type=int, metavar="UNITS", help="set the event's units to UNITS")
    correct.add_argument("--reason", required=True, help="why, for the audit trail (shown to the tenant)")
    correct.add_argument("--correction-key", default=None, help="the correction's own key (default: from the rest)")
    correct.add_argument("--occurred-at", default=None, help="the event's occurredAt, for an event whose key is old")
    correct.add_argument("--admin-key", default=None, help=admin_key)
    conflicts = commands.add_parser("conflicts", help="list events sent with a stored key but other content")
    conflicts.add_argument("--tenant", default=None, help="only this tenant's")
    conflicts.add_argument("--limit", type=int, default=50, help="newest N (default 50)")
