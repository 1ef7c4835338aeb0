"""What makes two events with one key the same event (DESIGN.md invariant 8): a duplicate or a conflict.

An event's content is its source, type, units, time and metadata. Trace and span ids are not content (a
retry from another span, or a webhook recorded both by the app and by the ledger, is the same usage), and
neither is a client-sent `id`. Time is content only when both events carry the sender's own: when the
ledger assigned it (the sender gave none: Twilio's webhooks carry no timestamp), a retry arrives at
another moment and is still the same event. Metadata is compared as JSON values (key order, spacing and
number spelling aside): the database compares jsonb.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from ledger_service.ingest.model import Difference
from ledger_service.storage.ledger import StoredContent
from usage_ledger_contract import fields


@dataclass(frozen=True, slots=True)
class Content:
    source: str
    event_type: str
    units: int
    occurred_at: datetime
    time_assigned: bool  # the ledger's clock, not the sender's
    metadata: str  # JSON object text, as sent

    def sent_json(self) -> str:
        """What was sent, as kept with a conflict (occurredAt null when the sender gave none)."""
        sent = {
            fields.SOURCE.wire: self.source,
            fields.EVENT_TYPE.wire: self.event_type,
            fields.UNITS.wire: self.units,
            fields.OCCURRED_AT.wire: None if self.time_assigned else self.occurred_at,
            fields.METADATA.wire: msgspec.Raw(self.metadata.encode()),
        }
        return msgspec.json.encode(sent).decode()


def against_stored(sent: Content, stored: StoredContent) -> list[Difference]:
    """How `sent` differs from the event stored under its key (empty: a duplicate)."""
    found = _plain_differences(sent, stored.source, stored.event_type, stored.units)
    if not (sent.time_assigned or stored.time_assigned) and sent.occurred_at != stored.occurred_at:
        found.append(Difference(fields.OCCURRED_AT, _instant(sent.occurred_at), _instant(stored.occurred_at)))
    if not stored.same_metadata:
        found.append(Difference(fields.METADATA, sent.metadata, ""))
    return found


def _plain_differences(sent: Content, source: str, event_type: str, units: int) -> list[Difference]:
    found = []
    if sent.source != source:
        found.append(Difference(fields.SOURCE, repr(sent.source), repr(source)))
    if sent.event_type != event_type:
        found.append(Difference(fields.EVENT_TYPE, repr(sent.event_type), repr(event_type)))
    if sent.units != units:
        found.append(Difference(fields.UNITS, str(sent.units), str(units)))
    return found


def _instant(at: datetime) -> str:
    return msgspec.json.encode(at).decode().strip('"')
