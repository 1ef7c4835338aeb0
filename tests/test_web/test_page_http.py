"""The usage page over plain HTTP (no browser, so no JavaScript): token exchange, headers, filters, paging."""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from ledger_service.tokens import mint_read_token
from tests.support.server import start_ledger
from tests.test_web import seed
from tests.test_web.conftest import Site
from tests.test_web.html import find, link, rows

PAGE = "/settings/billing/usage"


@pytest.fixture
def acme(site: Site) -> Iterator[httpx.Client]:
    """A client holding ACME's cookie, as a browser would after following the token link."""
    with httpx.Client(base_url=site.url, timeout=30, cookies={"usage_read_token": site.token(seed.ACME)}) as http:
        yield http


def test_token_link_sets_a_strict_httponly_cookie_and_moves_on_without_the_token(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as http:
        response = http.get(PAGE, params={"token": site.token(seed.ACME), "tz": "Asia/Kolkata", "source": "twilio"})
        assert response.status_code == 200
        refresh = find(response.text, "meta", http_equiv="refresh")[0]["content"]
        assert refresh == f"0; url={PAGE}?source=twilio&tz=Asia%2FKolkata"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("usage_read_token=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Path={PAGE}" in cookie
        assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
        max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
        assert 0 < max_age <= 30 * 60
        # The client kept the cookie: the clean URL now shows ACME's usage.
        page = http.get(refresh.split("url=", 1)[1])
    assert page.status_code == 200
    assert f"<strong data-tenant>{seed.ACME}</strong>" in page.text
    assert len(rows(page.text)) == 25


def test_cookie_is_secure_when_the_page_is_served_over_https(site: Site) -> None:
    # uvicorn trusts X-Forwarded-Proto from loopback by default, as it would from a local TLS proxy.
    response = httpx.get(
        f"{site.url}{PAGE}", params={"token": site.token(seed.ACME)}, headers={"X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 200
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("path", [PAGE, f"{PAGE}?token=not-a-token", f"{PAGE}/events.csv"])
def test_every_page_response_has_the_csp_and_no_inline_script_or_style(
    site: Site, acme: httpx.Client, path: str
) -> None:
    for response in (acme.get(path), httpx.get(f"{site.url}{path}")):
        policy = response.headers["content-security-policy"]
        assert "script-src 'none'" in policy and "default-src 'none'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        if response.headers["content-type"].startswith("text/html"):
            assert "<script" not in response.text and "<style" not in response.text
            assert not re.search(r"\sstyle=", response.text)
            assets = [a["href"] for a in find(response.text, "link")]
            assert assets and all(href.startswith("/static/usage/") for href in assets)


def test_stylesheet_is_served_by_the_service(site: Site) -> None:
    response = httpx.get(f"{site.url}/static/usage/usage.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert ".charts" in response.text


def test_filters_and_paging_work_as_plain_links(acme: httpx.Client, site: Site) -> None:
    expected = {e["idempotencyKey"] for e in site.data.of(seed.ACME, source="twilio", eventType="sms_outbound")}
    url: str | None = f"{PAGE}?source=twilio&eventType=sms_outbound"
    seen: list[dict[str, str]] = []
    while url:
        response = acme.get(url)
        assert response.status_code == 200, response.text
        page = rows(response.text)
        assert 0 < len(page) <= 25
        seen += page
        url = link(response.text, "next")
    assert len(seen) == len(expected) == 60
    assert {r["data-event-type"] for r in seen} == {"sms_outbound"}
    assert len({r["data-id"] for r in seen}) == 60  # every row once, none twice
    charts = find(acme.get(f"{PAGE}?source=twilio&eventType=sms_outbound").text, "figure")
    assert [(c["data-event-type"], int(c["data-total-units"])) for c in charts] == [
        ("sms_outbound", site.data.totals(seed.ACME)[("twilio", "sms_outbound")])
    ]


def test_previous_link_returns_to_the_page_before(acme: httpx.Client) -> None:
    first = acme.get(PAGE).text
    second = acme.get(link(first, "next") or "").text
    third = acme.get(link(second, "next") or "").text
    back = acme.get(link(third, "prev") or "").text
    assert [r["data-id"] for r in rows(back)] == [r["data-id"] for r in rows(second)]
    assert [r["data-id"] for r in rows(acme.get(link(back, "prev") or "").text)] == [r["data-id"] for r in rows(first)]
    assert link(first, "prev") is None


def test_blank_form_fields_redirect_to_the_clean_url(acme: httpx.Client) -> None:
    response = acme.get(PAGE, params={"source": "", "eventType": "", "from": "", "to": "", "tz": "UTC", "x": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}?tz=UTC"


def test_a_date_range_limits_the_graph_and_the_table(acme: httpx.Client, site: Site) -> None:
    day = (datetime.now(UTC) - timedelta(days=3)).date()
    expected = site.data.on_day(seed.ACME, day)
    html = acme.get(PAGE, params={"from": day.isoformat(), "to": day.isoformat()}).text
    charted = sum(int(c["data-total-units"]) for c in find(html, "figure"))
    assert charted == sum(e["units"] for e in expected) > 0
    assert {g["data-date"] for g in find(html, "g") if "data-date" in g} == {day.isoformat()}
    assert len(rows(html)) == len(expected)


def test_events_show_local_time_and_link_their_trace(acme: httpx.Client, site: Site) -> None:
    html = acme.get(PAGE, params={"tz": "Asia/Kathmandu"}).text
    times = find(html, "time")
    assert len(times) == 25
    local = datetime.fromisoformat(times[0]["datetime"]).astimezone(ZoneInfo("Asia/Kathmandu"))
    assert f">{local.day} {local:%b %Y}, {local:%H:%M:%S}</time>" in html
    traced = [a["href"] for a in find(html, "a") if a["href"].startswith("http://traces.test/")]
    with_trace = {e["traceId"] for e in site.data.of(seed.ACME) if "traceId" in e}
    assert traced and {urlsplit(href).path.rsplit("/", 1)[1] for href in traced} <= with_trace


def test_without_a_trace_url_template_the_trace_id_is_shown_whole_to_copy(site: Site) -> None:
    settings = site.ledger.settings.model_copy(update={"trace_url_template": None})
    ledger = start_ledger(settings)
    try:
        cookies = {"usage_read_token": site.token(seed.ACME)}
        html = httpx.get(f"{ledger.url}{PAGE}", cookies=cookies, timeout=30).text
    finally:
        ledger.stop()
    assert not [a for a in find(html, "a") if a["href"].startswith("http://traces.test/")]
    shown = re.findall(r'<code class="copy">([0-9a-f]{32})</code>', html)
    assert shown and set(shown) <= {e["traceId"] for e in site.data.of(seed.ACME) if "traceId" in e}


def test_an_event_type_of_another_source_is_set_aside_with_a_note(acme: httpx.Client) -> None:
    response = acme.get(PAGE, params={"source": "twilio", "eventType": "email_sent"})
    assert response.status_code == 200  # not a redirect: the note would be lost
    note = response.text.split('role="status"', 1)[1]
    assert "Emails sent is not a kind of SMS &amp; calls usage, so this shows all SMS &amp; calls usage." in note
    assert {f["data-event-type"] for f in find(response.text, "figure")} <= {"sms_outbound", "call_minutes"}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"source": "twillio"}, "There is no source \u201ctwillio\u201d: choose one from the Source menu."),
        ({"eventType": "sms"}, "There is no event type \u201csms\u201d: choose one from the Event type menu."),
        ({"from": "2026-02-30"}, "The start date \u201c2026-02-30\u201d is not a date (YYYY-MM-DD)."),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "The start date (2 Mar 2026) is after the end date (1 Mar 2026)."),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "The period is 732 days long; choose at most {max_days} days."),
    ],
)
def test_a_filter_the_menus_do_not_offer_is_a_400_in_plain_words(
    acme: httpx.Client, site: Site, query: dict[str, str], says: str
) -> None:
    says = says.format(max_days=site.ledger.settings.summary_max_days)
    response = acme.get(PAGE, params=query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    alert = response.text.split('role="alert"', 1)[1]
    assert html_lib.escape(says, quote=True) in alert
    assert find(response.text, "select", name="source")  # the form is kept, with what was given
    assert not rows(response.text)


@pytest.mark.parametrize("path", [PAGE, f"{PAGE}/events.csv"])
def test_no_forged_or_expired_token_gets_past_the_error_page(site: Site, path: str) -> None:
    secret = site.ledger.settings.secret_key.get_secret_value()
    expired = mint_read_token(secret, seed.ACME, timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=1))
    forged = mint_read_token("not-the-service-secret-" + "x" * 32, seed.ACME, timedelta(minutes=10))
    for cookie, says in ((None, "sign in to see your usage"), (expired, "has expired"), (forged, "is not valid")):
        cookies = {"usage_read_token": cookie} if cookie else {}
        response = httpx.get(f"{site.url}{path}", cookies=cookies)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/html")
        assert says in response.text.lower() and "Traceback" not in response.text
        assert not rows(response.text)


def test_csv_has_every_filtered_row(acme: httpx.Client, site: Site) -> None:
    response = acme.get(f"{PAGE}/events.csv", params={"source": "sendgrid"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert len(table) == len(site.data.of(seed.ACME, source="sendgrid")) == 15
    assert {(r["source"], r["eventType"], r["units"]) for r in table} == {("sendgrid", "email_sent", "2")}


def test_an_edited_cursor_is_a_400_page_not_a_crash(acme: httpx.Client) -> None:
    next_page = link(acme.get(PAGE).text, "next") or ""
    cursor = re.search(r"cursor=([^&]+)", next_page).group(1)  # type: ignore[union-attr]
    response = acme.get(PAGE, params={"cursor": cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")})
    assert response.status_code == 400
    assert find(response.text, "div", role="alert") and "cursor:" in response.text
    assert not rows(response.text)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (
            {"from": "0001-01-01", "to": "0001-01-02", "tz": "Etc/GMT-14"},
            "from: 0001-01-01 in Etc/GMT-14 begins before",
        ),
        ({"from": "9999-12-31", "to": "9999-12-31", "tz": "America/New_York"}, "to: 9999-12-31 in America/New_York"),
        ({"to": "0001-01-05"}, "to: 0001-01-05 leaves no room for 30 days before it"),
    ],
)
def test_dates_past_the_calendar_are_a_400_page_naming_the_date(
    acme: httpx.Client, query: dict[str, str], says: str
) -> None:
    for path in (PAGE, f"{PAGE}/events.csv"):
        response = acme.get(path, params=query)
        assert response.status_code == 400, (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert says in response.text and not rows(response.text)


def test_days_at_the_end_of_the_calendar_are_shown_empty(acme: httpx.Client) -> None:
    query = {"from": "9999-12-30", "to": "9999-12-30", "tz": "Pacific/Kiritimati"}
    page = acme.get(PAGE, params=query)
    assert page.status_code == 200, page.text[:300]
    assert not rows(page.text)
    export = acme.get(f"{PAGE}/events.csv", params=query)
    assert export.status_code == 200 and list(csv.DictReader(io.StringIO(export.text))) == []
