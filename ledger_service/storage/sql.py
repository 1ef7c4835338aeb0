"""Named SQL blocks loaded once from the .sql files beside the package.

A file holds blocks introduced by `-- name: <query_name>`; everything up to the next such line is the
query. Queries use `$n` parameters only: no SQL is ever assembled from strings at run time.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@cache
def _load_all() -> dict[str, str]:
    queries: dict[str, str] = {}
    for entry in sorted(resources.files("ledger_service.sql").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".sql"):
            for name, body in parse_named_queries(entry.read_text(encoding="utf-8")).items():
                if name in queries:
                    raise ValueError(f"query {name!r} is defined in more than one file")
                queries[name] = body
    return queries


def query(name: str) -> str:
    """The SQL text of a named query; KeyError names the missing query."""
    return _load_all()[name]
