"""Voids and amends: corrections appended to the ledger, never a change to a stored row.

A correction names its event by tenant and idempotency key. It is a new ledger row in that event's tenant,
type, key and time, whose units are the change it makes (minus the event's units for a void; new - old for
an amend), and a record in usage_corrections with the reason and the admin key that asked. Every sum then
shows the net effect at once, at any age (storage/corrections.py, sql/corrections.sql). Exactly once per
`correctionKey`, like an event per idempotency key; one at a time per event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger_service.errors import PayloadTooLargeError
from ledger_service.ingest.metrics import IngestCounters
from ledger_service.ingest.validation import Limits
from ledger_service.settings import Settings
from ledger_service.storage.corrections import (
    AmbiguousKeyError,
    CorrectionsRepository,
    CorrectionTransaction,
    KeyScanTooSlowError,
    NewCorrection,
    StoredCorrection,
    StoredEvent,
)
from usage_ledger_contract import fields
from usage_ledger_contract.rules import idempotency_key_problem, tenant_id_problem
from usage_ledger_contract.wire import (
    MAX_CORRECTIONS,
    Correction,
    CorrectionOutcome,
    CorrectionReport,
    EventError,
)

CORRECTION_KEY = "correctionKey"
REASON = "reason"


def admin_identity(key: str) -> str:
    """Who asked, for the audit record: a fingerprint of the admin key, never the key."""
    return "admin key " + hashlib.sha256(key.encode()).hexdigest()[:12]


class CorrectionRejected(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class _Applied:
    outcome: CorrectionOutcome
    duplicate: bool


class CorrectionService:
    def __init__(self, repository: CorrectionsRepository, settings: Settings, counters: IngestCounters) -> None:
        self._repository = repository
        self._limits = Limits.from_settings(settings)
        self._counters = counters

    async def correct(self, items: Sequence[Correction], requested_by: str) -> CorrectionReport:
        """Apply each correction on its own (one transaction each); the report keeps each item's index."""
        if len(items) > MAX_CORRECTIONS:
            raise PayloadTooLargeError(f"corrections: {len(items)} in one request; the limit is {MAX_CORRECTIONS}")
        outcomes: list[CorrectionOutcome] = []
        errors: list[EventError] = []
        duplicates = 0
        for index, item in enumerate(items):
            try:
                applied = await self._one(index, item, requested_by)
            except CorrectionRejected as rejected:
                errors.append(EventError(index, rejected.field, rejected.message))
                outcomes.append(CorrectionOutcome(index, item.correction_key, "rejected"))
                continue
            duplicates += applied.duplicate
            outcomes.append(applied.outcome)
        report = CorrectionReport(len(items) - len(errors) - duplicates, duplicates, len(errors), errors, outcomes)
        self._counters.corrections.update(applied=report.applied, duplicate=report.duplicates, rejected=report.rejected)
        return report

    async def _one(self, index: int, item: Correction, requested_by: str) -> _Applied:
        _check(item)
        async with self._repository.transaction(item.tenant_id, item.idempotency_key) as tx:
            earlier = await tx.correction(item.tenant_id, item.correction_key)
            if earlier is not None:
                return _replayed(index, item, earlier)
            event = await _find(tx, item)
            self._check_writable(event)
            history = await tx.history(item.tenant_id, event.id)
            new = _correction(item, event, history, requested_by)
            row_id = await tx.append(new)
        if row_id is None:  # the same correctionKey, claimed for another event meanwhile
            async with self._repository.transaction(item.tenant_id, item.idempotency_key) as tx:
                earlier = await tx.correction(item.tenant_id, item.correction_key)
            assert earlier is not None  # claimed by a transaction that committed: the claim waited for it
            return _replayed(index, item, earlier)
        outcome = CorrectionOutcome(index, item.correction_key, "applied", row_id, event.id, new.units)
        return _Applied(outcome, duplicate=False)

    def _check_writable(self, event: StoredEvent) -> None:
        oldest = self._limits.oldest_writable(datetime.now(UTC))
        if event.occurred_at < oldest:
            raise CorrectionRejected(
                fields.IDEMPOTENCY_KEY.wire,
                f"the event occurred at {event.occurred_at.isoformat()}, older than the raw retention allows "
                "(LEDGER_RAW_RETENTION_DAYS, less a day): its rows are being dropped, a correction would be too",
            )


def _check(item: Correction) -> None:
    """What the body's types cannot say; each problem names its field."""
    for name, problem in (
        (fields.TENANT_ID.wire, tenant_id_problem(item.tenant_id)),
        (fields.IDEMPOTENCY_KEY.wire, idempotency_key_problem(item.idempotency_key)),
        (CORRECTION_KEY, idempotency_key_problem(item.correction_key)),
    ):
        if problem:
            raise CorrectionRejected(name, problem)
    if not item.reason.strip() or not item.reason.isprintable():
        raise CorrectionRejected(REASON, "must say why, in printable characters (one line, no control characters)")
    if item.action == "amend" and item.units is None:
        raise CorrectionRejected(fields.UNITS.wire, "is required to amend: the event's units from now on")
    if item.action == "void" and item.units is not None:
        raise CorrectionRejected(fields.UNITS.wire, "must not be given to void (a void takes all of the event's units)")


async def _find(tx: CorrectionTransaction, item: Correction) -> StoredEvent:
    key = fields.IDEMPOTENCY_KEY.wire
    try:
        event = await tx.event(item.tenant_id, item.idempotency_key, item.occurred_at)
    except KeyScanTooSlowError:
        raise CorrectionRejected(
            key,
            "finding this event by its key alone takes too long (its key is older than the ledger keeps keys "
            f"for): give its {fields.OCCURRED_AT.wire} as the events list shows it",
        ) from None
    except AmbiguousKeyError:
        raise CorrectionRejected(
            key, f"several events of this tenant carry this key: give the event's {fields.OCCURRED_AT.wire}"
        ) from None
    if event is None:
        at = f" at {item.occurred_at.isoformat()}" if item.occurred_at else ""
        raise CorrectionRejected(key, f"tenant {item.tenant_id!r} has no event with this key{at}")
    return event


def _correction(item: Correction, event: StoredEvent, history: list[StoredCorrection], by: str) -> NewCorrection:
    voided = next((c for c in history if c.action == "void"), None)
    if voided is not None:
        when = voided.created_at.astimezone(UTC).isoformat()
        raise CorrectionRejected(
            fields.IDEMPOTENCY_KEY.wire,
            f"the event is already voided (correction {voided.correction_key!r} at {when}): it cannot be corrected",
        )
    current = history[-1].units if history else event.units
    units = 0 if item.action == "void" else item.units
    assert units is not None  # _check: an amend carries units
    if item.action == "amend" and units == current:
        raise CorrectionRejected(fields.UNITS.wire, f"the event already has {current} units: nothing to amend")
    return NewCorrection(
        item.tenant_id,
        item.correction_key,
        event,
        item.idempotency_key,
        item.action,
        units,
        units - current,
        item.reason,
        by,
    )


def _replayed(index: int, item: Correction, earlier: StoredCorrection) -> _Applied:
    """A correctionKey seen before: the same correction again is a duplicate, anything else is refused."""
    same = (earlier.idempotency_key, earlier.action, earlier.reason) == (item.idempotency_key, item.action, item.reason)
    if not same or (item.action == "amend" and earlier.units != item.units):
        raise CorrectionRejected(
            CORRECTION_KEY,
            f"was used for another correction ({earlier.action} of {earlier.idempotency_key!r}, "
            f"reason {earlier.reason!r}): a correction key names one correction",
        )
    outcome = CorrectionOutcome(
        index, item.correction_key, "duplicate", earlier.row_id, earlier.corrects, earlier.units
    )
    return _Applied(outcome, duplicate=True)
