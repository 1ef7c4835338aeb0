"""The page's words and numbers: content kept out of event details, round axis ticks, one date format."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from usage_ledger_contract import attributes as attr
from web.axis import nice_step, scale_top, ticks
from web.detail import content_key, details
from web.text import compact, duration_text, period_text, time_text


@pytest.mark.parametrize(
    "key",
    [
        "body",
        "subject",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "llm.input_messages",
        "Body",
        "email-html",
        "voicemail_transcript",
    ],
)
def test_keys_that_carry_content_are_never_shown(key: str) -> None:
    assert content_key(key)
    shown = details({key: "secret words", "call_sid": "CA1"}, "1 call")
    assert "secret words" not in repr(shown) and shown.hidden == 1
    assert [f.value for f in shown.facts] == ["CA1"]


@pytest.mark.parametrize(
    "key", ["message_sid", "num_segments", "to", "from", attr.GEN_AI_RESPONSE_ID, attr.GEN_AI_INPUT_TOKENS, "status"]
)
def test_ids_counts_and_statuses_are_shown(key: str) -> None:
    assert not content_key(key)


def test_details_say_what_was_billed_in_words() -> None:
    call = details({"call_sid": "CA9", "direction": "outbound-api", "call_duration_seconds": 205}, "4 minutes")
    assert [(f.label, f.value) for f in call.facts] == [
        ("Direction", "Outbound (placed by your app)"),
        ("Duration", "3 min 25 s"),
        ("Call ID", "CA9"),
    ]
    email = details({"recipients": 3, "to_count": 1, "cc_count": 2, "bcc_count": 0, "tags": ["a"]}, "3 recipients")
    assert [(f.label, f.value) for f in email.facts] == [("Recipients", "3 (1 to, 2 cc)")]
    assert email.hidden == 1  # the nested value
    ai = details({attr.GEN_AI_INPUT_TOKENS: 1200, attr.GEN_AI_OUTPUT_TOKENS: 80, "team": "support"}, "1,280 tokens")
    assert ai.tokens is not None
    assert [(r.label, r.value) for r in ai.tokens.rows] == [("Input", "1,200"), ("Output", "80")]
    assert [(f.label, f.value) for f in ai.other] == [("team", "support")]  # an app's own key, under its name


@pytest.mark.parametrize(
    ("peak", "top", "step"),
    [(0, 1, 1), (3, 3, 1), (6, 6, 2), (97, 100, 25), (1000, 1000, 250), (1234, 1500, 500), (12_066, 15_000, 5000)],
)
def test_the_value_axis_ends_on_a_round_number_at_or_above_the_peak(peak: int, top: int, step: int) -> None:
    assert (scale_top(peak), nice_step(max(peak, 1), 4)) == (top, step)
    marks = ticks(peak, bottom=100.0, height=100.0)
    assert [t.value for t in marks] == list(range(0, top + 1, step))
    assert (marks[0].y, marks[-1].y) == (100.0, 0.0)


def test_one_date_format_and_short_axis_numbers() -> None:
    assert period_text(date(2026, 11, 1), date(2026, 11, 30)) == "1 Nov 2026 \N{EN DASH} 30 Nov 2026"
    assert time_text(datetime(2026, 11, 3, 14, 2, 11)) == "3 Nov 2026, 14:02:11"
    assert [compact(n) for n in (950, 9500, 12_500, 95_000, 150_000, 1_000_000, 2_500_000)] == [
        "950",
        "9,500",
        "12.5k",
        "95k",
        "150k",
        "1M",
        "2.5M",
    ]
    assert [t.label for t in ticks(19_000, 100.0, 100.0)] == ["0", "5k", "10k", "15k", "20k"]  # alike on one axis
    assert [duration_text(s) for s in (45, 205, 3720)] == ["45 s", "3 min 25 s", "1 h 2 min"]
