"""docker-compose.yml and collector/config.yaml agree with the ledger's settings, routes and attributes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.deploy import ROOT, check_deployment, load

COMPOSE = load(ROOT / "docker-compose.yml")
COLLECTOR = load(ROOT / "collector" / "config.yaml")


def test_the_shipped_files_agree() -> None:
    assert check_deployment(COMPOSE, COLLECTOR) == []


def _set(path: list[str], value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return mutate


LEDGER_ENV = ["services", "ledger", "environment"]
LEDGER_EXPORTER = ["exporters", "otlphttp/ledger"]

# Each mutation is a plausible mistake; the check must name it.
BROKEN_COMPOSE = {
    "ledger port": (_set([*LEDGER_ENV, "LEDGER_PORT"], "8080"), "listens on 8080"),
    "misspelt setting": (_set([*LEDGER_ENV, "LEDGER_INGEST_KEY"], "x"), "LEDGER_INGEST_KEY is not a ledger setting"),
    "database host": (
        _set([*LEDGER_ENV, "DATABASE_URL"], "postgresql://ledger:pw@postgres:5432/usage_ledger"),
        "DATABASE_URL points at",
    ),
    "unpinned image": (_set(["services", "jaeger", "image"], "jaegertracing/all-in-one:latest"), "not pinned"),
    "trace link port": (
        _set([*LEDGER_ENV, "LEDGER_TRACE_URL_TEMPLATE"], "http://localhost:9999/trace/{trace_id}"),
        "trace link",
    ),
}
BROKEN_COLLECTOR = {
    "ledger path": (_set([*LEDGER_EXPORTER, "traces_endpoint"], "http://ledger:8000/v1/trace"), "not a ledger route"),
    "ledger port": (_set([*LEDGER_EXPORTER, "traces_endpoint"], "http://ledger:8001/v1/traces"), "not a ledger route"),
    "header name": (_set([*LEDGER_EXPORTER, "headers"], {"X-Api-Key": "Bearer ${env:LEDGER_INGEST_KEY}"}), "Bearer"),
    "header variable": (
        _set([*LEDGER_EXPORTER, "headers"], {"Authorization": "Bearer ${env:INGEST_KEY}"}),
        "Authorization header",
    ),
    "trace UI port": (_set(["exporters", "otlp/trace_ui", "endpoint"], "jaeger:14250"), "trace UI exporter"),
    "undefined processor": (
        _set(["service", "pipelines", "traces/usage", "processors"], ["filter/usage"]),
        "processor filter/usage that is not defined",
    ),
    "filter attribute": (
        _set(["processors", "filter/usage_only", "traces", "span"], ['attributes["usage"] == nil']),
        "does not look at usage.recorded",
    ),
}


@pytest.mark.parametrize("case", BROKEN_COMPOSE, ids=list(BROKEN_COMPOSE))
def test_a_broken_compose_file_is_caught(case: str) -> None:
    mutate, expected = BROKEN_COMPOSE[case]
    compose = copy.deepcopy(COMPOSE)
    mutate(compose)
    problems = check_deployment(compose, COLLECTOR)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("case", BROKEN_COLLECTOR, ids=list(BROKEN_COLLECTOR))
def test_a_broken_collector_config_is_caught(case: str) -> None:
    mutate, expected = BROKEN_COLLECTOR[case]
    collector = copy.deepcopy(COLLECTOR)
    mutate(collector)
    problems = check_deployment(COMPOSE, collector)
    assert any(expected in p for p in problems), problems


def test_env_example_names_every_secret_compose_requires() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(__import__("re").findall(r"\$\{(\w+):\?", text))
    example = {line.split("=")[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    assert required and required <= example
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text().split()
