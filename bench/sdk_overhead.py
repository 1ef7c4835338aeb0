"""Client-library cost on the caller, and delivery of a burst against a slow ledger, in the same run.

    python -m bench.sdk_overhead [--calls 50000] [--burst 100000] [--delay 0.05]

Prints record_usage_event p50/p99 in µs (memory mode inside a span and with no span, durable mode with one
thread and with four recording at once) beside a bare OTel span (start and end of one span), their ratios
to that span with the goals, then the fraction of a burst delivered through a slow ledger (a loopback proxy
adding `--delay` seconds per request) by our pipeline and by the SDK's BatchSpanProcessor with its default
settings. Writes bench/results/sdk_overhead.json.

Goals (issue 14): in a span ≤ 1.0x the bare span's p50, with no current span ≤ 1.2x, durable p99 ≤ 250 µs.
The ledger and its PostgreSQL share this machine's cores with the caller, so the durable tail against the
real ledger also measures their CPU bursts while the worker delivers; `durable_stub_ledger` repeats it
against a stand-in ledger in another process that answers each batch at once (as a ledger on another
host would, CPU-wise): the worker does all of its work (spool reads, HTTP, deletes), only the ledger's
server-side CPU is gone from this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import msgspec
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import usage_ledger_client
from bench.harness import BENCH_INGEST_KEY, bench_database, ledger_process, write_results
from usage_ledger_client.transport import HttpTransport
from usage_ledger_contract import attributes as attr
from usage_ledger_contract.wire import encode_batch


class NullExporter(SpanExporter):
    """The app's ordinary span exporter, minus the network: what a bare span costs the caller."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class LedgerSpanExporter(SpanExporter):
    """Usage span events to the ledger through the SDK's BatchSpanProcessor: the path that can drop."""

    def __init__(self, url: str) -> None:
        self._transport = HttpTransport(url, BENCH_INGEST_KEY, timeout=60)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        events = [_wire(e.attributes or {}) for s in spans for e in s.events if e.name == attr.USAGE_EVENT_NAME]
        if events and self._transport.post(encode_batch(events)).status != 200:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._transport.close()


def _wire(a: object) -> bytes:
    get = a.get  # type: ignore[attr-defined]
    return msgspec.json.encode(
        {
            "tenantId": get(attr.TENANT_ID),
            "source": get(attr.SOURCE),
            "eventType": get(attr.EVENT_TYPE),
            "units": get(attr.UNITS),
            "idempotencyKey": get(attr.IDEMPOTENCY_KEY),
        }
    )


@contextmanager
def slow_proxy(target: str, delay: float) -> Iterator[str]:
    """A loopback proxy that holds every request `delay` seconds before forwarding it: a slow ledger."""
    client = httpx.Client(timeout=120)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            time.sleep(delay)
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
            answer = client.post(target + self.path, content=body, headers=headers)
            self.send_response(answer.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        client.close()


def percentiles(call: Callable[[], object], calls: int) -> tuple[float, float]:
    timings = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        started = clock()
        call()
        timings.append(clock() - started)
    timings.sort()
    return timings[len(timings) // 2] / 1000, timings[int(len(timings) * 0.99)] / 1000


META = {"to": "+15550100", "status": "queued"}


def _record() -> None:
    usage_ledger_client.record_usage_event(None, "twilio", "sms_outbound", 1, META)


STUB_LEDGER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        answer = b'{"accepted": %d, "duplicates": 0, "rejected": 0, "errors": []}' % body.count(b'"idempotencyKey"')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextmanager
def stub_ledger() -> Iterator[str]:
    """A ledger stand-in in its own process that stores nothing and answers every batch "accepted"."""
    proc = subprocess.Popen([sys.executable, "-c", STUB_LEDGER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.kill()
        proc.wait()


def durable_on_stub(spool: Path, calls: int) -> tuple[float, float]:
    tracer = trace.get_tracer("bench")
    with stub_ledger() as url:
        usage_ledger_client.configure(url, BENCH_INGEST_KEY, spool_dir=spool / "stub", durable=True)
        with usage_ledger_client.usage_tenant("t_lat_stub"), tracer.start_as_current_span("twilio.messages.create"):
            figures = percentiles(_record, calls)
        usage_ledger_client.shutdown(timeout=60)
    return figures


def latency(url: str, spool: Path, calls: int, rates: dict[str, float]) -> dict[str, tuple[float, float]]:
    tracer = trace.get_tracer("bench")
    out: dict[str, tuple[float, float]] = {}
    out["bare_otel_span"] = percentiles(lambda: tracer.start_span("twilio.messages.create").end(), calls)
    for mode, durable in (("memory", False), ("durable", True)):
        usage_ledger_client.configure(url, BENCH_INGEST_KEY, spool_dir=spool / mode, durable=durable)
        with usage_ledger_client.usage_tenant(f"t_lat_{mode}"):
            with tracer.start_as_current_span("twilio.messages.create"):
                out[f"{mode}_in_span"] = percentiles(_record, calls)
            if mode == "memory":
                out["memory_no_span"] = percentiles(_record, calls)
            else:
                for threads in (1, 4):
                    rates[f"durable_{threads}_thread_events_per_s"] = round(throughput(tracer, calls, threads))
        usage_ledger_client.shutdown(timeout=300)
    out["durable_stub_ledger"] = durable_on_stub(spool, calls)
    return out


def throughput(tracer: trace.Tracer, calls: int, threads: int) -> float:
    """Durable events per second with `threads` threads recording at once (their commits are grouped)."""
    tenant = usage_ledger_client.current_tenant() or "t_lat_durable"
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        with usage_ledger_client.usage_tenant(tenant), tracer.start_as_current_span("twilio.messages.create"):
            barrier.wait()
            for _ in range(calls // threads):
                _record()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return (calls // threads) * threads / (time.perf_counter() - started)


def ratios(figures: dict[str, tuple[float, float]]) -> dict[str, float]:
    bare = figures["bare_otel_span"][0]
    return {
        "in_span_to_bare_p50": round(figures["memory_in_span"][0] / bare, 2),
        "no_span_to_bare_p50": round(figures["memory_no_span"][0] / bare, 2),
    }


def burst_ours(url: str, spool: Path, count: int) -> float:
    usage_ledger_client.configure(url, BENCH_INGEST_KEY, spool_dir=spool / "burst")
    started = time.perf_counter()
    for n in range(count):
        usage_ledger_client.record_usage_event("t_burst_ours", "openai", "ai_message", 1, {"n": n})
    usage_ledger_client.flush(timeout=1800)
    usage_ledger_client.shutdown(timeout=60)
    return time.perf_counter() - started


def burst_sdk(url: str, count: int) -> float:
    provider = TracerProvider()
    processor = BatchSpanProcessor(LedgerSpanExporter(url))  # the SDK's defaults: queue 2048, batch 512, 5 s
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for n in range(count):
        span = tracer.start_span("openai.chat")
        span.add_event(
            attr.USAGE_EVENT_NAME,
            {
                attr.TENANT_ID: "t_burst_sdk",
                attr.SOURCE: "openai",
                attr.EVENT_TYPE: "ai_message",
                attr.UNITS: 1,
                attr.IDEMPOTENCY_KEY: f"sdk-{n}",
            },
        )
        span.end()
    provider.shutdown()  # force_flush + export what the queue still holds
    return time.perf_counter() - started


async def delivered(dsn: str, tenant: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM usage_ledger WHERE tenant_id = $1", tenant))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the slow ledger adds per request")
    args = parser.parse_args()
    app_provider = TracerProvider()
    app_provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    trace.set_tracer_provider(app_provider)
    results: dict[str, object] = {"calls": args.calls, "burst": args.burst, "slow_ledger_delay_s": args.delay}
    with tempfile.TemporaryDirectory() as tmp, bench_database() as dsn, ledger_process(dsn) as url:
        rates: dict[str, float] = {}
        figures = latency(url, Path(tmp), args.calls, rates)
        for name, (p50, p99) in figures.items():
            results[f"{name}_p50_us"], results[f"{name}_p99_us"] = round(p50, 2), round(p99, 2)
            print(f"{name:<22} p50 {p50:7.2f} µs   p99 {p99:7.2f} µs")
        results.update(rates)
        print("durable events/s, 1 thread · 4 threads:", " · ".join(f"{r:,.0f}" for r in rates.values()))
        shares = ratios(figures)
        results.update(shares)
        print(f"in a span / bare span (p50)      {shares['in_span_to_bare_p50']:.2f}x   goal ≤ 1.0x")
        print(f"no current span / bare span (p50) {shares['no_span_to_bare_p50']:.2f}x   goal ≤ 1.2x")
        print(
            f"durable p99                       {figures['durable_in_span'][1]:.0f} µs (real ledger on these cores)"
            f" · {figures['durable_stub_ledger'][1]:.0f} µs (stub ledger)   goal ≤ 250 µs"
        )
        with slow_proxy(url, args.delay) as slow:
            runs: list[tuple[str, Callable[[], float]]] = [
                ("ours", lambda: burst_ours(slow, Path(tmp), args.burst)),
                ("sdk_batch_span_processor", lambda: burst_sdk(slow, args.burst)),
            ]
            for name, run in runs:
                seconds = run()
                tenant = "t_burst_ours" if name == "ours" else "t_burst_sdk"
                fraction = asyncio.run(delivered(dsn, tenant)) / args.burst
                results[f"burst_{name}_delivered"] = round(fraction, 4)
                results[f"burst_{name}_seconds"] = round(seconds, 1)
                print(
                    f"burst of {args.burst:,} via a slow ledger, {name:<24} delivered {fraction:7.2%} in {seconds:.0f}s"
                )
    print(f"results: {write_results('sdk_overhead', results)}")


if __name__ == "__main__":
    main()
