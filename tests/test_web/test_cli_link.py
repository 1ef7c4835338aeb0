"""`usage-ledger token --page BASE_URL` prints a sign-in link that opens the tenant's page."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.test_web import seed
from tests.test_web.conftest import Site
from tests.test_web.html import rows


def test_the_printed_link_signs_in_and_shows_the_tenants_usage(site: Site) -> None:
    secret = site.ledger.settings.secret_key.get_secret_value()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger_service.cli",
            "token",
            "--tenant",
            seed.ACME,
            "--ttl",
            "10m",
            "--page",
            site.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LEDGER_SECRET_KEY": secret},
    )
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    assert link.startswith(f"{site.url}/settings/billing/usage?token=")
    with httpx.Client(timeout=30, follow_redirects=True) as http:
        signed_in = http.get(link)
        assert signed_in.status_code == 200
        page = http.get(f"{site.url}/settings/billing/usage")
    assert f"<strong data-tenant>{seed.ACME}</strong>" in page.text
    assert rows(page.text)
