"""Every limit client and ledger must agree on. The ledger's settings default to these values.

Each one is named in the error a caller gets when it is exceeded.
"""

from __future__ import annotations

from typing import Final

# The most units one event may carry. A billion is hundreds of times any real call (a 4-hour call is
# 240 minutes, a large completion a few million tokens), and it keeps every sum the ledger keeps
# (15-minute buckets, 30-day totals) far inside bigint even at full ingest speed, so no batch can ever
# fail on an overflow. Larger usage is several events.
MAX_UNITS: Final = 1_000_000_000
MAX_TENANT_ID_LENGTH: Final = 128
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 256
MAX_NAME_LENGTH: Final = 64  # source and event type names

# Defaults of the ledger's LEDGER_* settings of the same meaning; the client checks metadata against the
# same size so an event it accepts is not refused later.
DEFAULT_MAX_METADATA_BYTES: Final = 8 * 1024
DEFAULT_MAX_METADATA_DEPTH: Final = 16
DEFAULT_MAX_BATCH_EVENTS: Final = 10_000
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024
DEFAULT_LATE_WINDOW_DAYS: Final = 35
DEFAULT_FUTURE_SKEW_SECONDS: Final = 300
