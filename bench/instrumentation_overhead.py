"""What an instrumentor adds to a provider call: instrumented vs bare SDK calls to a local stand-in, same run.

    python -m bench.instrumentation_overhead [--calls 200] [--rounds 5]

For Twilio messages.create, SendGrid send, and OpenAI chat completions (plain and streamed), each round
times `--calls` bare calls, then the same calls instrumented (span + usage event + queueing for the ledger),
alternating so drift hits both alike. Reports the median over rounds of wall µs per call, the difference
and the ratio, the same for CPU time on the calling thread (telemetry's own cost, without the delivery
thread that shares this process and these CPUs with the stand-ins and the ledger), and checks that every
instrumented call was delivered to a real ledger (PostgreSQL) exactly once.
Writes bench/results/instrumentation_overhead.json. The stand-ins are Python HTTP servers on loopback, so
a bare call here costs far less than a real provider round trip: the ratio is an upper bound.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import openai
from openai.types.chat import ChatCompletionMessageParam
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail
from twilio.rest import Client as TwilioClient

import usage_ledger_client
from bench.harness import BENCH_INGEST_KEY, bench_database, ledger_process, write_results
from harness.standins import OpenAIStandin, SendGridStandin, StandinHttpClient, TwilioStandin
from harness.standins import twilio as twilio_standin
from usage_ledger_client.instrumentation import instrument_all, telemetry_errors, uninstrument_all

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Summarise my voicemail please"}]


def operations(
    twilio_api: TwilioStandin, sendgrid_api: SendGridStandin, openai_api: OpenAIStandin
) -> dict[str, Callable[[], Any]]:
    twilio = TwilioClient(
        twilio_standin.ACCOUNT_SID, twilio_standin.AUTH_TOKEN, http_client=StandinHttpClient(twilio_api.url)
    )
    sendgrid = SendGridAPIClient("SG.bench", host=sendgrid_api.url)
    ai = openai.OpenAI(api_key="sk-bench", base_url=f"{openai_api.url}/v1", max_retries=0)
    mail = Mail(
        from_email="a@example.com", to_emails=["b@example.com", "c@example.com"], subject="s", plain_text_content="x"
    )
    return {
        "twilio messages.create": lambda: twilio.messages.create(to="+15550100", from_="+15550111", body="hi"),
        "sendgrid send": lambda: sendgrid.send(mail),
        "openai chat.completions.create": lambda: ai.chat.completions.create(model="m", messages=MESSAGES),
        "openai chat stream": lambda: list(ai.chat.completions.create(model="m", messages=MESSAGES, stream=True)),
    }


def per_call_us(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Wall time, and CPU time of this (the caller's) thread, per call. The CPU figure leaves out the
    network wait and the delivery thread, so it is what telemetry itself costs the calling thread."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        call()
    return (time.perf_counter() - wall) / calls * 1e6, (time.thread_time() - cpu) / calls * 1e6


def measure(call: Callable[[], Any], calls: int, rounds: int) -> dict[str, float]:
    bare: list[tuple[float, float]] = []
    instrumented: list[tuple[float, float]] = []
    for _ in range(rounds):
        uninstrument_all()
        bare.append(per_call_us(call, calls))
        instrument_all()
        instrumented.append(per_call_us(call, calls))
    uninstrument_all()
    b, i = statistics.median(w for w, _ in bare), statistics.median(w for w, _ in instrumented)
    b_cpu, i_cpu = statistics.median(c for _, c in bare), statistics.median(c for _, c in instrumented)
    return {
        "bare_us": round(b, 1),
        "instrumented_us": round(i, 1),
        "overhead_us": round(i - b, 1),
        "ratio": round(i / b, 3),
        "caller_cpu_bare_us": round(b_cpu, 1),
        "caller_cpu_instrumented_us": round(i_cpu, 1),
        "caller_cpu_overhead_us": round(i_cpu - b_cpu, 1),
    }


def run(calls: int, rounds: int) -> dict[str, object]:
    servers = (TwilioStandin(), SendGridStandin(), OpenAIStandin())
    try:
        with (
            bench_database() as database_url,
            ledger_process(database_url) as url,
            tempfile.TemporaryDirectory() as spool,
        ):
            usage_ledger_client.configure(url, BENCH_INGEST_KEY, spool_dir=spool)
            results: dict[str, object] = {}
            with usage_ledger_client.usage_tenant("t_bench"):
                for name, call in operations(*servers).items():
                    call()  # warm-up (not instrumented, so not recorded): connections, imports
                    results[name] = measure(call, calls, rounds)
                    print(f"{name:34s} {results[name]}")
            delivered = usage_ledger_client.flush(timeout=120)
            stats = usage_ledger_client.metrics()
            rows = _count_rows(database_url)
            usage_ledger_client.shutdown()
    finally:
        for server in servers:
            server.stop()
    expected = len(results) * calls * rounds
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "operations": results,
        "instrumented_calls": expected,
        "recorded": stats.recorded,
        "ledger_rows": rows,
        "flushed": delivered,
        "telemetry_errors": telemetry_errors(),
    }


def _count_rows(database_url: str) -> int:
    import asyncio

    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM usage_ledger"))
        finally:
            await conn.close()

    return asyncio.run(count())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = run(args.calls, args.rounds)
    print(
        f"recorded {results['recorded']} usage events for {results['instrumented_calls']} instrumented calls; "
        f"ledger rows: {results['ledger_rows']}"
    )
    print(f"wrote {write_results('instrumentation_overhead', results)}")


if __name__ == "__main__":
    main()
