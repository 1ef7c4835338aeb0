"""Cross-checks docker-compose.yml and collector/config.yaml against the ledger's own settings and routes.

No Docker engine runs on our machines, so nothing starts these files in CI; this reads them instead and
returns every disagreement as a sentence (an empty list means they agree).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ledger_service.app import create_app
from ledger_service.settings import Settings
from usage_ledger_contract import attributes

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("timescaledb", "ledger", "otel-collector", "jaeger")
_ENV_REF = re.compile(r"^Bearer \$\{env:(\w+)\}$")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def app_paths() -> set[str]:
    return {route.path for route in create_app(Settings()).routes}


def check_deployment(compose: dict[str, Any], collector: dict[str, Any]) -> list[str]:
    services = compose.get("services", {})
    missing = [name for name in SERVICES if name not in services]
    if missing:
        return [f"docker-compose.yml lacks services {missing}"]
    return [
        *_check_images(services),
        *_check_ledger(services),
        *_check_database(services),
        *_check_collector(services, collector),
        *_check_pipelines(collector),
    ]


def _check_images(services: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in services.items():
        image = service.get("image")
        if image is not None and not re.search(r":\d[\w.\-]*$", image):
            problems.append(f"{name}: image {image!r} is not pinned to a version")
    return problems


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def _published(service: dict[str, Any]) -> dict[int, int]:
    """container port -> host port."""
    pairs = (str(p).split(":") for p in service.get("ports", []))
    return {int(container): int(host) for host, container in pairs}


def _check_ledger(services: dict[str, Any]) -> list[str]:
    ledger, problems = services["ledger"], []
    env = _env(ledger)
    known = {"DATABASE_URL"} | {f"LEDGER_{name.upper()}" for name in Settings.model_fields}
    problems += [f"ledger: {key} is not a ledger setting" for key in env if key not in known]
    port = int(env.get("LEDGER_PORT", Settings.model_fields["port"].default))
    if port not in _published(ledger):
        problems.append(f"ledger: listens on {port} but publishes {sorted(_published(ledger))}")
    probe = " ".join(ledger.get("healthcheck", {}).get("test", []))
    url = re.search(r"http://[^'\" ]+", probe)
    if url is None or urlsplit(url.group()).port != port or urlsplit(url.group()).path not in app_paths():
        problems.append(f"ledger: healthcheck {url.group() if url else probe!r} is not a route on port {port}")
    template = env.get("LEDGER_TRACE_URL_TEMPLATE", "")
    if "{trace_id}" not in template or urlsplit(template).port not in _published(services["jaeger"]).values():
        problems.append(f"ledger: trace link {template!r} does not point at the trace UI's published port")
    return problems


def _check_database(services: dict[str, Any]) -> list[str]:
    db_env = _env(services["timescaledb"])
    # Compose substitutes ${VAR:?message} from .env; any stand-in value parses the same.
    url = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", _env(services["ledger"]).get("DATABASE_URL", "")))
    expected = ("timescaledb", 5432, db_env.get("POSTGRES_USER"), f"/{db_env.get('POSTGRES_DB')}")
    actual = (url.hostname, url.port, url.username, url.path)
    return [] if actual == expected else [f"ledger: DATABASE_URL points at {actual}, the database is {expected}"]


def _check_collector(services: dict[str, Any], config: dict[str, Any]) -> list[str]:
    service, problems = services["otel-collector"], []
    exporters = config.get("exporters", {})
    ledger_port = int(_env(services["ledger"]).get("LEDGER_PORT", 8000))
    endpoint = urlsplit(exporters.get("otlphttp/ledger", {}).get("traces_endpoint", ""))
    if (endpoint.hostname, endpoint.port) != ("ledger", ledger_port) or endpoint.path not in app_paths():
        problems.append(f"collector: ledger exporter posts to {endpoint.geturl()!r}, not a ledger route")
    headers = exporters.get("otlphttp/ledger", {}).get("headers", {})
    match = _ENV_REF.match(headers.get("Authorization", ""))
    ingest_key = _env(services["ledger"]).get("LEDGER_INGEST_KEYS")
    if match is None or _env(service).get(match.group(1)) != ingest_key:
        problems.append("collector: the Authorization header is not 'Bearer <the ledger's ingest key>'")
    trace_ui = urlsplit("//" + exporters.get("otlp/trace_ui", {}).get("endpoint", ""))
    if trace_ui.hostname != "jaeger" or trace_ui.port != 4317:
        problems.append(f"collector: trace UI exporter goes to {trace_ui.netloc!r}, not jaeger's OTLP port 4317")
    storage = config.get("extensions", {}).get("file_storage/usage_queue", {}).get("directory")
    if not any(str(v).endswith(f":{storage}") for v in service.get("volumes", [])):
        problems.append(f"collector: the usage queue directory {storage!r} is not on a volume")
    receiver_ports = {urlsplit("//" + p["endpoint"]).port for p in config["receivers"]["otlp"]["protocols"].values()}
    if not receiver_ports <= set(_published(service)):
        problems.append(f"collector: OTLP ports {sorted(receiver_ports)} are not all published")
    mounted = [v for v in service.get("volumes", []) if str(v).startswith("./collector/config.yaml:")]
    if not mounted or f"--config={mounted[0].split(':')[1]}" not in service.get("command", []):
        problems.append("collector: collector/config.yaml is not the config the Collector starts with")
    return problems


def _check_pipelines(config: dict[str, Any]) -> list[str]:
    problems = []
    service = config.get("service", {})
    for ext in service.get("extensions", []):
        if ext not in config.get("extensions", {}):
            problems.append(f"collector: extension {ext} is used but not defined")
    for name, pipeline in service.get("pipelines", {}).items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                if component not in config.get(kind, {}):
                    problems.append(f"collector: {name} uses {kind[:-1]} {component} that is not defined")
    usage = service.get("pipelines", {}).get("traces/usage", {})
    if "otlphttp/ledger" not in usage.get("exporters", []):
        problems.append("collector: no traces/usage pipeline exporting to the ledger")
    condition = " ".join(config.get("processors", {}).get("filter/usage_only", {}).get("traces", {}).get("span", []))
    for name in (attributes.SPAN_MARKER, attributes.SOURCE):
        if f'attributes["{name}"]' not in condition:
            problems.append(
                f"collector: the usage filter does not look at {name} (usage_ledger_contract/attributes.py)"
            )
    return problems
