"""One base exception for the service; app.py maps each to its HTTP status in one place."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class. `status` is the HTTP status the API answers with; `code` a stable machine-readable name."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(LedgerError):
    status = 400
    code = "bad_request"


class UnauthorizedError(LedgerError):
    status = 401
    code = "unauthorized"


class ForbiddenError(LedgerError):
    """A webhook whose provider signature is missing or wrong: nothing from it is recorded."""

    status = 403
    code = "forbidden"


class PayloadTooLargeError(LedgerError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(LedgerError):
    status = 415
    code = "unsupported_media_type"


class MigrationError(LedgerError):
    """A migration file was edited after it was applied, or the storage variant does not match."""

    code = "migration_error"


class StorageUnavailableError(LedgerError):
    status = 503
    code = "storage_unavailable"


class ServiceBusyError(LedgerError):
    """The request would push a bounded resource (e.g. memory for unverified webhook bodies) past its limit."""

    status = 503
    code = "busy"
