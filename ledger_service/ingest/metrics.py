"""The ledger's counters, served at GET /metrics in Prometheus' text format (api/metrics.py).

Counted per process since it started, as Prometheus counters are: a scrape of every replica sums them. The
conflicts themselves are kept in usage_conflicts (GET /api/admin/conflicts); this counter is what an alert
watches. Written by hand rather than with prometheus_client: four counters do not need a dependency.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ledger_service.ingest.model import IngestResult

INGEST_OUTCOMES = ("accepted", "duplicate", "conflict", "rejected")
CORRECTION_OUTCOMES = ("applied", "duplicate", "rejected")


@dataclass
class IngestCounters:
    events: Counter[str] = field(default_factory=Counter)  # by outcome
    corrections: Counter[str] = field(default_factory=Counter)  # by outcome

    def count(self, result: IngestResult) -> None:
        self.events["accepted"] += result.accepted
        self.events["duplicate"] += result.duplicates
        self.events["conflict"] += len(result.conflicts)
        self.events["rejected"] += result.rejected

    def exposition(self) -> str:
        """The counters in the Prometheus text exposition format (version 0.0.4)."""
        lines = [
            "# HELP usage_ledger_ingest_events_total Usage events answered by ingest, by outcome.",
            "# TYPE usage_ledger_ingest_events_total counter",
            *(f'usage_ledger_ingest_events_total{{outcome="{o}"}} {self.events[o]}' for o in INGEST_OUTCOMES),
            "# HELP usage_ledger_ingest_conflicts_total Events sent with a stored key and other content.",
            "# TYPE usage_ledger_ingest_conflicts_total counter",
            f"usage_ledger_ingest_conflicts_total {self.events['conflict']}",
            "# HELP usage_ledger_corrections_total Corrections (voids and amends) answered, by outcome.",
            "# TYPE usage_ledger_corrections_total counter",
            *(f'usage_ledger_corrections_total{{outcome="{o}"}} {self.corrections[o]}' for o in CORRECTION_OUTCOMES),
        ]
        return "\n".join(lines) + "\n"
