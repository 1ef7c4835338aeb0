"""The client library's errors: one ValueError family for bad calls, so `except ValueError` catches them all."""

from __future__ import annotations


class UsageValidationError(ValueError):
    """A bad argument to record_usage_event / usage_tenant / configure; the message starts with the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
