"""The rules for single values that both sides check: tenant ids, idempotency keys, units, names.

Each returns what is wrong (a sentence that follows the field's name) or None, so the client, the ledger
and the token minting raise their own error types with one and the same rule.
"""

from __future__ import annotations

import re
from typing import Final

from usage_ledger_contract.limits import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_NAME_LENGTH, MAX_TENANT_ID_LENGTH, MAX_UNITS

# Lowercase identifiers: they are stored, filtered on and shown in URLs and CSV headers as they are.
_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*\Z")


def _printable_text(value: object, limit: int) -> str | None:
    # str.isprintable() is False for every control character (NUL, newline, ...), for separators other
    # than the plain space (a no-break space), and for lone surrogates, none of which belong in an id.
    if isinstance(value, str) and value and len(value) <= limit and value.isprintable():
        return None
    rule = f"must be a non-empty string of at most {limit} printable characters (no control characters)"
    return f"{rule}, got {_show(value)}"


def tenant_id_problem(value: object) -> str | None:
    return _printable_text(value, MAX_TENANT_ID_LENGTH)


def idempotency_key_problem(value: object) -> str | None:
    return _printable_text(value, MAX_IDEMPOTENCY_KEY_LENGTH)


def units_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, got {type(value).__name__} {_show(value)}"
    if not 0 <= value <= MAX_UNITS:
        return f"must be between 0 and {MAX_UNITS}, got {value}"
    return None


def name_problem(value: object) -> str | None:
    """Event type (and source) names: lowercase letters, digits and underscores, starting with a letter."""
    if isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and _NAME.match(value):
        return None
    return f"must be 1-{MAX_NAME_LENGTH} lowercase letters, digits or underscores, starting with a letter"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
