"""Issue 12, class 3: a captured webhook replayed with different unsigned parts, or after its key's retention,
is billed once.

Twilio signs the URL and the form fields, nothing else. A request captured on the wire and replayed with
another I-Twilio-Idempotency-Token, other unsigned headers, its fields in another order or its signature in
another case of the header name is the same signed request: one row. Changing anything signed (a `visit`
added to the URL, a field) breaks the signature: 403, nothing stored. These requests carry no timestamp,
so the late window cannot refuse a replay: their keys' claims outlive the retention that prunes others.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from ledger_service.storage.sql import query
from tests.test_attacks.conftest import Target
from tests.test_attacks.raw import post, twilio_signature

FORM = "application/x-www-form-urlencoded"


def captured_ivr(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """A genuine IVR step request as Twilio sent it: path, form fields, headers."""
    call = "CA" + uuid.uuid4().hex
    path = "/webhooks/twilio/t_replay/ivr?step=pay"
    params = {"CallSid": call, "AccountSid": "AC" + "0" * 32, "Digits": "1", "CallStatus": "in-progress"}
    headers = {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio_signature(target.url + path, params),
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }
    return path, params, headers


def keys(target: Target, call_sid: str) -> list[str]:
    rows = target.sql.fetch("SELECT idempotency_key FROM usage_ledger WHERE idempotency_key LIKE $1", f"{call_sid}:%")
    return sorted(r["idempotency_key"] for r in rows)


def test_replays_with_other_unsigned_parts_are_billed_once(target: Target) -> None:
    path, params, headers = captured_ivr(target)
    body = urlencode(params).encode()
    replays = [
        headers,
        {**headers, "I-Twilio-Idempotency-Token": str(uuid.uuid4())},
        {**headers, "I-Twilio-Idempotency-Token": ""},
        {k: v for k, v in headers.items() if k != "I-Twilio-Idempotency-Token"},
        {**headers, "User-Agent": "TwilioProxy/9.9", "X-Forwarded-For": "203.0.113.9", "X-Home-Region": "ie1"},
        {**{k.lower(): v for k, v in headers.items()}, "I-Twilio-Idempotency-Token": "lowercase-names"},
    ]
    reordered = urlencode(dict(reversed(list(params.items())))).encode()  # the signature sorts the fields
    with target.watch("one captured IVR request replayed 7 ways (unsigned parts changed)") as outcome:
        for replay in replays:
            outcome.saw(post(target.port, path, replay, body))
        outcome.saw(post(target.port, path, {**headers, "I-Twilio-Idempotency-Token": "reordered"}, reordered))
    assert outcome.statuses == {"200": 7}
    assert keys(target, params["CallSid"]) == [f"{params['CallSid']}:ivr:pay"]


def test_changing_anything_signed_is_refused(target: Target) -> None:
    path, params, headers = captured_ivr(target)
    tampered = [
        (path + "&visit=2", params),  # a revisit must be signed as one
        (path.replace("step=pay", "step=refund"), params),
        (path.replace("t_replay", "t_other"), params),
        (path, {**params, "Digits": "2"}),
        (path, {**params, "CallSid": "CA" + uuid.uuid4().hex}),
    ]
    with target.watch("the captured IVR request with a signed part changed, 5 ways") as outcome:
        for tampered_path, tampered_params in tampered:
            outcome.saw(post(target.port, tampered_path, headers, urlencode(tampered_params).encode()))
    assert outcome.statuses == {"403": 5}
    assert keys(target, params["CallSid"]) == []


def test_a_signed_revisit_is_a_second_step(target: Target) -> None:
    path, params, headers = captured_ivr(target)
    body = urlencode(params).encode()
    revisit = path + "&visit=2"
    revisit_headers = {**headers, "X-Twilio-Signature": twilio_signature(target.url + revisit, params)}
    with target.watch("an IVR step, its revisit (signed visit=2), each delivered twice") as outcome:
        for _ in range(2):
            outcome.saw(post(target.port, path, headers, body))
            outcome.saw(post(target.port, revisit, revisit_headers, body))
    assert outcome.statuses == {"200": 4}
    call = params["CallSid"]
    assert keys(target, call) == [f"{call}:ivr:pay", f"{call}:ivr:pay:2"]


def test_an_sms_replayed_with_new_headers_is_billed_once(target: Target) -> None:
    sid = "SM" + uuid.uuid4().hex
    path = "/webhooks/twilio/t_replay/sms"
    params = {"MessageSid": sid, "NumSegments": "3", "NumMedia": "0", "Body": "hello"}
    headers = {"Content-Type": FORM, "X-Twilio-Signature": twilio_signature(target.url + path, params)}
    with target.watch("one captured SMS webhook replayed 5 times with new idempotency tokens") as outcome:
        for n in range(5):
            replay = {**headers, "I-Twilio-Idempotency-Token": f"token-{n}"}
            outcome.saw(post(target.port, path, replay, urlencode(params).encode()))
    assert outcome.statuses == {"200": 5}
    units = "SELECT sum(units) FROM usage_ledger WHERE idempotency_key = $1"
    assert target.sql.fetchval(units, f"{sid}:sms_inbound") == 3


def age_claims(target: Target, days: int, *keys: str) -> None:
    """As if `days` had passed since these keys were claimed (the test's only way to move the clock)."""
    target.sql.execute(
        "UPDATE usage_idempotency_keys SET claimed_at = now() - make_interval(days => $1) "
        "WHERE idempotency_key = ANY($2::text[])",
        days,
        list(keys),
    )


def prune_claims(target: Target) -> None:
    """The service's hourly pruning, run now with its own statement and the default retention (40 days)."""
    while target.sql.execute(query("prune_idempotency_keys"), 40, 10_000) == "DELETE 10000":
        pass


def test_a_webhook_replayed_after_the_key_retention_is_still_billed_once(target: Target) -> None:
    # Twilio's requests carry no timestamp: the late window cannot refuse a replay, so the claims of these
    # events are kept past the retention (migration 0010); an event that carries its own time is refused
    # by the late window instead, so its claim may go.
    sid = "SM" + uuid.uuid4().hex
    sms_path = "/webhooks/twilio/t_replay/sms"
    sms = {"MessageSid": sid, "NumSegments": "2", "NumMedia": "0", "Body": "hello"}
    sms_headers = {"Content-Type": FORM, "X-Twilio-Signature": twilio_signature(target.url + sms_path, sms)}
    ivr_path, ivr, ivr_headers = captured_ivr(target)
    with target.watch("SMS and IVR webhooks delivered, then replayed 41 days later") as outcome:
        outcome.saw(post(target.port, sms_path, sms_headers, urlencode(sms).encode()))
        outcome.saw(post(target.port, ivr_path, ivr_headers, urlencode(ivr).encode()))
        ivr_key = f"{ivr['CallSid']}:ivr:pay"
        age_claims(target, 41, f"{sid}:sms_inbound", ivr_key)
        prune_claims(target)
        for token in ("later-1", "later-2"):
            outcome.saw(
                post(
                    target.port, sms_path, {**sms_headers, "I-Twilio-Idempotency-Token": token}, urlencode(sms).encode()
                )
            )
            outcome.saw(
                post(
                    target.port, ivr_path, {**ivr_headers, "I-Twilio-Idempotency-Token": token}, urlencode(ivr).encode()
                )
            )
    assert outcome.statuses == {"200": 6}
    units = "SELECT count(*)::int, sum(units)::int FROM usage_ledger WHERE idempotency_key = $1"
    assert tuple(target.sql.fetch(units, f"{sid}:sms_inbound")[0]) == (1, 2)
    assert tuple(target.sql.fetch(units, ivr_key)[0]) == (1, 1)
    kept = "SELECT count(*) FROM usage_idempotency_keys WHERE idempotency_key = ANY($1::text[]) AND keep"
    assert target.sql.fetchval(kept, [f"{sid}:sms_inbound", ivr_key]) == 2
