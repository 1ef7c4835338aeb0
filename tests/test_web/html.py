"""Just enough HTML reading for the plain-HTTP tests: every start tag with its attributes, in order."""

from __future__ import annotations

from html.parser import HTMLParser

Tag = tuple[str, dict[str, str]]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[Tag] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def start_tags(html: str) -> list[Tag]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def find(html: str, tag: str, **attrs: str) -> list[dict[str, str]]:
    """Attributes of each `tag` whose attributes include `attrs` (underscores in names read as dashes)."""
    wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
    return [a for t, a in start_tags(html) if t == tag and all(a.get(k) == v for k, v in wanted.items())]


def rows(html: str) -> list[dict[str, str]]:
    """The events list's rows (each <li class="event" data-id=...>)."""
    return [a for t, a in start_tags(html) if t == "li" and "data-id" in a]


def link(html: str, rel: str) -> str | None:
    found = find(html, "a", rel=rel)
    return found[0]["href"] if found else None
