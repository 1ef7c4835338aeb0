"""Voids and amends (issue 13) on both storage variants: a correction is a new ledger row; every read shows the
net effect the moment the request is answered, for a recent event and for one 200 days old (on TimescaleDB in
a compressed chunk below the aggregates' watermark); corrections are exactly once, and only an admin key
makes them."""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from ledger_service.settings import Settings
from ledger_service.storage.sql import query
from tests.conftest import TEST_ADMIN_KEY, TEST_INGEST_KEY
from tests.support import aggregates
from tests.support.admin import CORRECTIONS, admin, backfill, correct, correction
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import Daily, ingest, raw_reference, reader, summary_as_daily, token_for, walk_events
from tests.support.server import RunningLedger
from tests.test_ledger_service.test_cli_and_settings import run_cli
from tests.test_ledger_service.test_exact_summaries import analyst_daily_utc, page_daily, raw_daily_utc
from tests.test_ledger_service.test_rls import run

TYPES = (("twilio", "sms_outbound"), ("twilio", "call_minutes"), ("openai", "ai_message"))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Chunks are compressed by hand below (a compression policy may not be shorter than the late window).
    return settings.model_copy(update={"compress_after_days": 0})


def usage(rng: random.Random, tenant: str, center: datetime, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    events = []
    for _ in range(count):
        source, event_type = rng.choice(TYPES)
        at = min(now, center + timedelta(hours=rng.uniform(-30, 30)))
        events.append(
            event(
                tenantId=tenant,
                source=source,
                eventType=event_type,
                units=rng.randint(1, 900),
                occurredAt=at.isoformat(),
                idempotencyKey=str(uuid.uuid4()),
            )
        )
    return events


def expected_utc(events: list[dict[str, Any]], units_now: dict[str, int | None]) -> Daily:
    """Per (source, type) and UTC day, (units, events) of what was sent with the corrections applied by hand:
    a voided event (None) counts nothing, an amended one its new units."""
    sums: dict[tuple[str, str], dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for e in events:
        units = units_now.get(e["idempotencyKey"], e["units"])
        if units is None:
            continue
        cell = sums[(e["source"], e["eventType"])][datetime.fromisoformat(e["occurredAt"]).astimezone(UTC).date()]
        cell[0] += units
        cell[1] += 1
    return {key: {d: (u, n) for d, (u, n) in days.items()} for key, days in sums.items()}


@pytest.mark.parametrize("age_days", [0, 200], ids=["recent", "200-days-old"])
def test_void_and_amend_show_the_net_effect_everywhere_at_once(
    ledger: RunningLedger, client: httpx.Client, sql: SQL, storage: str, settings: Settings, age_days: int
) -> None:
    rng = random.Random(13 + age_days)
    center = datetime.now(UTC) - timedelta(days=age_days, hours=1)
    sent = usage(rng, "t_a", center, 240)
    other = usage(rng, "t_b", center, 40)
    if age_days > settings.late_window_days:  # older than the late window: stored as `import --backfill` does
        result = backfill(settings, storage, sent + other)
        assert result.accepted == len(sent + other)
    else:
        assert ingest(client, sent + other) == len(sent + other)
    # The aggregates take everything in; on TimescaleDB the chunk holding the events is then compressed.
    aggregates.run_refresh_policy(sql)
    chunks = aggregates.compress_chunks_holding(sql, [center]) if storage == "timescaledb" else []
    voided, amended_up, amended_down, twice = sent[0], sent[1], sent[2], sent[3]
    units_now: dict[str, int | None] = {
        voided["idempotencyKey"]: None,
        amended_up["idempotencyKey"]: amended_up["units"] + 50,
        amended_down["idempotencyKey"]: 0,
        twice["idempotencyKey"]: None,
    }
    with admin(ledger) as http:
        body = correct(
            http,
            [
                correction("t_a", voided["idempotencyKey"], "void", "sent twice by a bug in the dialer"),
                correction(
                    "t_a", amended_up["idempotencyKey"], "amend", "undercounted", units=amended_up["units"] + 50
                ),
                correction("t_a", amended_down["idempotencyKey"], "amend", "test traffic", units=0),
                correction("t_a", twice["idempotencyKey"], "amend", "first look", units=twice["units"] * 2),
            ],
        )
        assert (body["applied"], body["duplicates"], body["rejected"]) == (4, 0, 0), body
        # An amended event voided later: the void takes what the amend left.
        assert (
            correct(http, [correction("t_a", twice["idempotencyKey"], "void", "customer never had it")])["applied"] == 1
        )
    # Immediately: the summary, the page and the analyst views equal what was sent with the corrections
    # applied, and a raw scan of the ledger (originals plus correction rows), day by day.
    days = [datetime.fromisoformat(e["occurredAt"]).astimezone(UTC).date() for e in sent]
    first, last = min(days) - timedelta(days=1), max(days) + timedelta(days=1)
    expected = expected_utc(sent, units_now)
    with reader(ledger, "t_a") as http:
        summary = http.get("/api/billing/usage/summary", params={"tz": "UTC", "from": str(first), "to": str(last)})
        assert summary.status_code == 200, summary.text
    assert summary_as_daily(summary.json()) == expected == raw_reference(sql, "t_a", "UTC", first, last)
    assert page_daily(ledger, "t_a", "UTC", first, last) == expected
    for zone in ("Asia/Kathmandu", "America/Los_Angeles"):
        with reader(ledger, "t_a") as http:
            zoned = http.get("/api/billing/usage/summary", params={"tz": zone, "from": str(first), "to": str(last)})
        assert summary_as_daily(zoned.json()) == raw_reference(sql, "t_a", zone, first, last), zone
    assert analyst_daily_utc(sql) == raw_daily_utc(sql)
    # The listing counts rows: every event and every correction row.
    assert summary.json()["totalEvents"] == len(sent) + 5
    # The originals are untouched: same units, one row each.
    originals = sql.fetch(
        "SELECT idempotency_key, units FROM usage_ledger WHERE tenant_id = 't_a' AND corrects IS NULL"
    )
    assert sorted((r["idempotency_key"], r["units"]) for r in originals) == sorted(
        (e["idempotencyKey"], e["units"]) for e in sent
    )
    if storage == "timescaledb" and age_days:
        # The hard case: the rows landed in a compressed chunk, below the watermark of the aggregates.
        assert chunks and all(aggregates.compressed(sql, chunks))
        assert aggregates.materialized_until(sql) > center


def test_the_events_list_links_an_event_and_its_correction_with_reason_and_time(
    ledger: RunningLedger, client: httpx.Client
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    sms = event(tenantId="t_a", units=4, occurredAt=at.isoformat())
    call = event(tenantId="t_a", eventType="call_minutes", units=7, occurredAt=(at - timedelta(hours=2)).isoformat())
    ingest(client, [sms, call])
    before = datetime.now(UTC)
    with admin(ledger) as http:
        void = correction("t_a", sms["idempotencyKey"], "void", "duplicate send")
        amend = correction("t_a", call["idempotencyKey"], "amend", "carrier rounded twice", units=5)
        outcomes = correct(http, [void, amend])["corrections"]
    void_id, amend_id = outcomes[0]["id"], outcomes[1]["id"]
    with reader(ledger, "t_a") as http:
        rows = {r["id"]: r for r in walk_events(http, limit=2)}  # pages of 2: the links cross pages
        csv_text = http.get("/api/billing/usage/events.csv").text
    assert len(rows) == 4
    original = next(r for r in rows.values() if r["kind"] == "event" and r["idempotencyKey"] == sms["idempotencyKey"])
    assert (original["units"], original["netUnits"]) == (4, 0)
    [link] = original["corrections"]
    assert (link["id"], link["action"], link["units"], link["reason"]) == (void_id, "void", 0, "duplicate send")
    assert link["correctionKey"] == void["correctionKey"]
    assert before - timedelta(seconds=5) <= datetime.fromisoformat(link["correctedAt"]) <= datetime.now(UTC)
    row = rows[void_id]
    assert (row["kind"], row["units"], row["corrects"], row["occurredAt"]) == (
        "void",
        -4,
        original["id"],
        original["occurredAt"],
    )
    assert row["correction"]["reason"] == "duplicate send"
    amended = next(r for r in rows.values() if r["kind"] == "event" and r["idempotencyKey"] == call["idempotencyKey"])
    assert (amended["units"], amended["netUnits"]) == (7, 5)
    assert (rows[amend_id]["kind"], rows[amend_id]["units"], rows[amend_id]["corrects"]) == ("amend", -2, amended["id"])
    # The CSV says the same in its columns.
    lines = {line.split(",")[0]: line for line in csv_text.splitlines()[1:]}
    assert void_id in lines[original["id"]] and "duplicate send" in lines[void_id]
    assert original["id"] in lines[void_id] and "carrier rounded twice" in lines[amend_id]
    # The page: the event says what is billed now, with the reason and a link to the correction row, and
    # the correction row links back.
    with httpx.Client(base_url=ledger.url, timeout=60) as http:
        http.get("/settings/billing/usage", params={"token": token_for(ledger.settings, "t_a")})
        day = str(at.date())
        response = http.get("/settings/billing/usage", params={"tz": "UTC", "from": day, "to": day})
        assert response.status_code == 200, response.text
        page = response.text
    assert "Voided: nothing is billed" in page and "duplicate send" in page
    assert f"#event-{void_id}" in page and f"#event-{original['id']}" in page
    assert "carrier rounded twice" in page


def test_replayed_corrections_count_once(ledger: RunningLedger, client: httpx.Client, sql: SQL) -> None:
    events = [event(tenantId="t_a", units=10 + n) for n in range(3)]
    ingest(client, events)
    batch = [
        correction("t_a", events[0]["idempotencyKey"], "void", "duplicate"),
        correction("t_a", events[1]["idempotencyKey"], "amend", "recount", units=3),
    ]
    with admin(ledger) as http:
        first = correct(http, batch)
        again = correct(http, batch)
        # The same correction key for another correction: refused, naming the key.
        reused = dict(batch[1], units=4)
        refused = correct(http, [reused])
    assert (first["applied"], first["duplicates"]) == (2, 0)
    assert (again["applied"], again["duplicates"], again["rejected"]) == (0, 2, 0)
    assert [o["id"] for o in again["corrections"]] == [o["id"] for o in first["corrections"]]
    assert [o["outcome"] for o in again["corrections"]] == ["duplicate", "duplicate"]
    assert refused["rejected"] == 1 and refused["errors"][0]["field"] == "correctionKey"
    assert sql.fetchval("SELECT count(*) FROM usage_ledger WHERE corrects IS NOT NULL") == 2
    assert sql.fetchval("SELECT count(*) FROM usage_corrections") == 2
    assert sql.fetchval("SELECT sum(units)::int FROM usage_ledger") == 3 + 12
    metrics = httpx.get(f"{ledger.url}/metrics").text
    assert 'usage_ledger_corrections_total{outcome="applied"} 2' in metrics
    assert 'usage_ledger_corrections_total{outcome="duplicate"} 2' in metrics


def test_unknown_and_already_voided_events_are_clear_per_item_errors(
    ledger: RunningLedger, client: httpx.Client, sql: SQL
) -> None:
    sms = event(tenantId="t_a", units=6)
    ingest(client, [sms])
    with admin(ledger) as http:
        correct(http, [correction("t_a", sms["idempotencyKey"], "void", "duplicate")])
        body = correct(
            http,
            [
                correction("t_a", "no-such-key", "void", "typo"),
                correction("t_b", sms["idempotencyKey"], "void", "wrong tenant"),  # the key is t_a's
                correction("t_a", sms["idempotencyKey"], "void", "again"),
                correction("t_a", sms["idempotencyKey"], "amend", "after the void", units=2),
            ],
        )
    assert (body["applied"], body["rejected"]) == (0, 4)
    errors = {e["index"]: (e["field"], e["message"]) for e in body["errors"]}
    assert errors[0] == ("idempotencyKey", "tenant 't_a' has no event with this key")
    assert errors[1] == ("idempotencyKey", "tenant 't_b' has no event with this key")
    for index in (2, 3):
        assert errors[index][0] == "idempotencyKey" and "already voided" in errors[index][1]
    assert [o["outcome"] for o in body["corrections"]] == ["rejected"] * 4
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 2


def test_bad_correction_bodies_are_4xx_naming_the_field(ledger: RunningLedger, client: httpx.Client) -> None:
    sms = event(tenantId="t_a", units=6)
    ingest(client, [sms])
    key = sms["idempotencyKey"]
    with admin(ledger) as http:
        cases = {
            "amend without units": correction("t_a", key, "amend", "x"),
            "void with units": correction("t_a", key, "void", "x", units=1),
            "blank reason": correction("t_a", key, "void", "   "),
        }
        for name, item in cases.items():
            body = correct(http, [item])
            assert body["rejected"] == 1, name
        assert (
            http.post(CORRECTIONS, json={"corrections": [{**correction("t_a", key, "erase", "x")}]}).status_code == 400
        )
        assert http.post(CORRECTIONS, json={"corrections": []}).status_code == 400
        missing = http.post(CORRECTIONS, json={"corrections": [{"tenantId": "t_a", "action": "void"}]})
        assert missing.status_code == 400 and "idempotencyKey" in missing.text


def test_only_an_admin_key_corrects_and_lists_conflicts(ledger: RunningLedger, client: httpx.Client, sql: SQL) -> None:
    sms = event(tenantId="t_a", units=6)
    ingest(client, [sms])
    body = {"corrections": [correction("t_a", sms["idempotencyKey"], "void", "not allowed")]}
    credentials = {
        "none": {},
        "ingest key": {"Authorization": f"Bearer {TEST_INGEST_KEY}"},
        "t_a's read token": {"Authorization": f"Bearer {token_for(ledger.settings, 't_a')}"},
        "another key": {"Authorization": "Bearer not-an-admin-key-0123456789"},
    }
    for name, headers in credentials.items():
        for response in (
            httpx.post(f"{ledger.url}{CORRECTIONS}", json=body, headers=headers, timeout=30),
            httpx.get(f"{ledger.url}/api/admin/conflicts", headers=headers, timeout=30),
        ):
            assert response.status_code in (401, 403), (name, response.url.path, response.status_code)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 1
    assert sql.fetchval("SELECT count(*) FROM usage_corrections") == 0


def test_a_tenant_sees_only_its_own_corrections(ledger: RunningLedger, client: httpx.Client, sql: SQL) -> None:
    a, b = event(tenantId="t_a", units=6), event(tenantId="t_b", units=9)
    ingest(client, [a, b])
    with admin(ledger) as http:
        correct(http, [correction("t_a", a["idempotencyKey"], "void", "t_a's secret reason")])
    with reader(ledger, "t_b") as http:
        rows = walk_events(http)
        csv_text = http.get("/api/billing/usage/events.csv").text
        summary = http.get("/api/billing/usage/summary", params={"days": "2"}).json()
    assert [(r["kind"], r["units"], r["corrections"]) for r in rows] == [("event", 9, [])]
    assert "secret reason" not in csv_text and summary["totalEvents"] == 1
    # Underneath, row-level security: the reader's tenant sees its own corrections only.
    statement = "SELECT tenant_id, reason FROM usage_corrections"
    assert run(sql, "reader", "t_b", statement) == []
    assert [tuple(r) for r in run(sql, "reader", "t_a", statement)] == [("t_a", "t_a's secret reason")]
    assert run(sql, "reader", "t_b", "SELECT * FROM usage_corrections_tenant") == []


def test_usage_ledger_correct_voids_and_amends_from_the_command_line(
    ledger: RunningLedger, client: httpx.Client, sql: SQL, database_url: str
) -> None:
    sms, call = event(tenantId="t_a", units=6), event(tenantId="t_a", eventType="call_minutes", units=9)
    ingest(client, [sms, call])
    env = {"DATABASE_URL": database_url, "LEDGER_ADMIN_KEYS": TEST_ADMIN_KEY, "LEDGER_ADMIN_KEY": TEST_ADMIN_KEY}
    void = ("correct", "--tenant", "t_a", "--key", sms["idempotencyKey"], "--void", "--reason", "sent twice")
    done = run_cli(*void, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("applied: correction cli-") and "its units are now 0" in done.stdout
    again = run_cli(*void, env=env)  # the same command again is the same correction
    assert again.returncode == 0 and again.stdout.startswith("duplicate: "), again.stdout
    amend = ("correct", "--tenant", "t_a", "--key", call["idempotencyKey"], "--amend", "4", "--reason", "rounding")
    assert run_cli(*amend, "--admin-key", TEST_ADMIN_KEY, env={**env, "LEDGER_ADMIN_KEY": ""}).returncode == 0
    unknown = run_cli("correct", "--tenant", "t_a", "--key", "nope", "--void", "--reason", "typo", env=env)
    assert unknown.returncode == 1
    assert "rejected: idempotencyKey: tenant 't_a' has no event with this key" in unknown.stderr
    wrong = run_cli(*void, "--admin-key", "not-an-admin-key-0123456789", env=env)
    assert wrong.returncode == 2 and "not one of LEDGER_ADMIN_KEYS" in wrong.stderr
    with reader(ledger, "t_a") as http:
        rows = {r["idempotencyKey"]: r for r in walk_events(http) if r["kind"] == "event"}
    assert (rows[sms["idempotencyKey"]]["netUnits"], rows[call["idempotencyKey"]]["netUnits"]) == (0, 4)
    assert rows[sms["idempotencyKey"]]["corrections"][0]["reason"] == "sent twice"
    assert sql.fetchval("SELECT count(*) FROM usage_corrections") == 2


def test_concurrent_voids_of_one_event_apply_once(ledger: RunningLedger, client: httpx.Client, sql: SQL) -> None:
    sms = event(tenantId="t_a", units=8)
    ingest(client, [sms])
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def void(n: int) -> None:
        item = correction("t_a", sms["idempotencyKey"], "void", f"void number {n}")
        with admin(ledger) as http:
            barrier.wait()
            [outcome] = correct(http, [item])["corrections"]
        outcomes.append(outcome["outcome"])

    threads = [threading.Thread(target=void, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["applied", "rejected", "rejected", "rejected"]
    assert sql.fetchval("SELECT sum(units)::int FROM usage_ledger") == 0
    assert sql.fetchval("SELECT sum(events)::int FROM usage_ledger") == 0


def test_an_event_whose_key_claim_was_pruned_is_found_by_its_time_or_its_key(
    ledger: RunningLedger, client: httpx.Client, sql: SQL
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    sms, call = event(tenantId="t_a", units=5, occurredAt=at.isoformat()), event(tenantId="t_a", units=7)
    ingest(client, [sms, call])
    # The claims go as the hourly pruning removes them past LEDGER_DEDUP_RETENTION_DAYS.
    sql.execute("UPDATE usage_idempotency_keys SET claimed_at = now() - interval '41 days'")
    sql.execute(query("prune_idempotency_keys"), 40, 1000)
    assert sql.fetchval("SELECT count(*) FROM usage_idempotency_keys") == 0
    with admin(ledger) as http:
        wrong_time = correction(
            "t_a", sms["idempotencyKey"], "void", "x", occurredAt=(at - timedelta(hours=1)).isoformat()
        )
        by_time = correction("t_a", sms["idempotencyKey"], "void", "duplicate", occurredAt=at.isoformat())
        by_key = correction("t_a", call["idempotencyKey"], "amend", "recount", units=2)
        body = correct(http, [wrong_time, by_time, by_key])
    assert [o["outcome"] for o in body["corrections"]] == ["rejected", "applied", "applied"]
    assert body["errors"][0]["message"].startswith("tenant 't_a' has no event with this key at ")
    assert sql.fetchval("SELECT sum(units)::int FROM usage_ledger") == 2
    # The key used again once its claim was gone: two events carry it, so the time must say which.
    ingest(client, [dict(call, units=3, occurredAt=(at - timedelta(days=1)).isoformat())])
    sql.execute("UPDATE usage_idempotency_keys SET claimed_at = now() - interval '41 days'")
    sql.execute(query("prune_idempotency_keys"), 40, 1000)
    with admin(ledger) as http:
        body = correct(http, [correction("t_a", call["idempotencyKey"], "void", "which one?")])
    assert body["rejected"] == 1 and "several events of this tenant carry this key" in body["errors"][0]["message"]
