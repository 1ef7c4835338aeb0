"""The usage exporter: one delivery attempt of a batch of encoded events, with an outcome instead of an exception.

Like the OTel SDK's exporters it is synchronous and thread-safe (it runs on the pipeline's sender thread),
never raises and has an idempotent shutdown. Retrying is the pipeline's job: the exporter only says
whether the batch is settled (stored, duplicate, conflict or refused for good), worth retrying, or blocked
on credentials. Per-event refusals are final: logged with the ledger's reasons, counted, kept in the spool.
A conflict (the key holds another event) is final too: logged once with its key, counted, not retried.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import msgspec

from usage_ledger_client.encoding import decode_report
from usage_ledger_client.stats import Stats
from usage_ledger_client.transport import HttpTransport
from usage_ledger_contract.wire import encode_batch

log = logging.getLogger(__name__)

RejectSink = Callable[[Sequence[bytes], str], None]


class ExportStatus(enum.Enum):
    SUCCESS = "success"  # settled: nothing in the batch needs sending again
    RETRY = "retry"  # 429 / 5xx / unreachable: send the same batch again later
    UNAUTHORIZED = "unauthorized"  # 401/403: keep the events until a process with a valid key sends them


@dataclass(frozen=True, slots=True)
class ExportResult:
    status: ExportStatus
    retry_after: float | None = None
    reason: str = ""


SUCCESS = ExportResult(ExportStatus.SUCCESS)


class UsageExporter:
    def __init__(self, transport: HttpTransport, stats: Stats, on_rejected: RejectSink) -> None:
        self._transport = transport
        self._stats = stats
        self._on_rejected = on_rejected
        self._shut_down = False

    def export(self, events: Sequence[bytes]) -> ExportResult:
        if self._shut_down:
            return ExportResult(ExportStatus.RETRY, reason="exporter is shut down")
        try:
            return self._export(events)
        except Exception as exc:  # an exporter reports failure, it never raises into the pipeline
            log.exception("usage export failed unexpectedly")
            return ExportResult(ExportStatus.RETRY, reason=repr(exc))

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            self._transport.close()

    def _export(self, events: Sequence[bytes]) -> ExportResult:
        try:
            answer = self._transport.post(encode_batch(events))
        except httpx.HTTPError as exc:
            return ExportResult(ExportStatus.RETRY, reason=f"ledger unreachable: {exc!r}")
        status = answer.status
        if status == 200:
            self._settle(events, answer.body)
            return SUCCESS
        reason = f"HTTP {status}: {answer.body[:300].decode('utf-8', 'replace')}"
        # Too large, or refused as a whole for what may be one bad event (a ledger that cannot tell which):
        # halves, down to single events, so only the bad ones are refused and every good one is stored.
        if status in (400, 413) and len(events) > 1:
            return self._split(events)
        if status == 429 or status >= 500:
            return ExportResult(ExportStatus.RETRY, answer.retry_after, reason)
        if status in (401, 403):
            return ExportResult(ExportStatus.UNAUTHORIZED, answer.retry_after, reason)
        # Any other 4xx (400, 413 for a single event, 415, ...) will fail the same way every time.
        self._reject(events, reason)
        return SUCCESS

    def _split(self, events: Sequence[bytes]) -> ExportResult:
        # A half that fails makes the caller resend the whole batch; the half already stored then
        # comes back as duplicates, which the ledger absorbs.
        middle = len(events) // 2
        for half in (events[:middle], events[middle:]):
            result = self._export(half)
            if result.status is not ExportStatus.SUCCESS:
                return result
        return SUCCESS

    def _settle(self, events: Sequence[bytes], body: bytes) -> None:
        try:
            report = decode_report(body)
        except msgspec.MsgspecError:
            log.warning("the ledger answered 200 with an unreadable body; counting %d events as sent", len(events))
            self._stats.add("sent", len(events))
            return
        self._stats.add("sent", report.accepted)
        self._stats.add("duplicates", report.duplicates)
        self._stats.add("conflicts", report.conflicts)
        for conflict in report.conflict_details:
            # Settled: the ledger kept the event it had and changed nothing; sending it again would not
            # either. Said once, here, with the key: a client bug that changes a count is worth a look.
            log.warning(
                "the ledger holds idempotency key %r with other content; this event changed nothing and is not "
                "retried: %s",
                conflict.idempotency_key,
                conflict.message,
            )
        by_index: dict[int, list[str]] = {}
        for error in report.errors:
            by_index.setdefault(error.index, []).append(f"{error.field}: {error.message}")
        for index, reasons in sorted(by_index.items()):
            if 0 <= index < len(events):
                self._reject([events[index]], "; ".join(reasons))

    def _reject(self, events: Sequence[bytes], reason: str) -> None:
        self._stats.add("rejected", len(events))
        log.error("the ledger refused %d usage event(s) for good (%s); first: %s", len(events), reason, events[0][:500])
        self._on_rejected(events, reason)
