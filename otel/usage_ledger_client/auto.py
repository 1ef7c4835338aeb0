"""Zero-code start: `opentelemetry-instrument python app.py` turns the usage instrumentors on (entry points
`opentelemetry_instrumentor`) and then calls `configure_from_environment` (entry point
`opentelemetry_post_instrument`), which starts delivery when USAGE_LEDGER_URL and USAGE_LEDGER_INGEST_KEY
are set. The app then only names the tenant (`with usage_tenant(...)`, or baggage `tenant.id` arriving
with the request).
"""

from __future__ import annotations

import logging
import os

from usage_ledger_client import _runtime
from usage_ledger_client.client import ENV_KEY, ENV_URL, configure

log = logging.getLogger(__name__)


def configure_from_environment() -> None:
    if _runtime.pipeline is not None:
        return  # the app configured the client itself
    if not (os.environ.get(ENV_URL) and os.environ.get(ENV_KEY)):
        log.debug("usage delivery not started: %s and %s are not both set", ENV_URL, ENV_KEY)
        return
    configure()
