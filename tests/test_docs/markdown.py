"""Fenced code blocks of our Markdown docs, each with the mark that says how it is exercised.

A block is preceded by one of:
    <!-- docs: run -->                          run by tests/test_docs (sh / python / sql)
    <!-- docs: ci -->                           the command .ci/run runs
    <!-- docs: test tests/path.py::test_name -->  the named test exercises it (it must exist)
    <!-- docs: example -->                      not a command (a JSON shape, an output); not for sh / python
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "replit.md", "collector/README.md", "bench/README.md")
COMMAND_LANGUAGES = frozenset({"sh", "bash", "console", "python", "sql"})
_BLOCK = re.compile(
    r"(?:<!--\s*docs:\s*(?P<mark>[^>]*?)\s*-->\s*\n)?^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```\s*$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    mark: str
    body: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def kind(self) -> str:
        return self.mark.split()[0] if self.mark else ""


def blocks(names: tuple[str, ...] = DOCS) -> list[Block]:
    found = []
    for name in names:
        path = ROOT / name
        if not path.exists():
            continue
        text = path.read_text()
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("lang")) + 1
            found.append(Block(name, line, match["lang"], (match["mark"] or "").strip(), match["body"]))
    return found
