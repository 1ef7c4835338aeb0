"""Twilio REST API stand-in: the Messages and Calls resources (2010-04-01), answering as the API reference shows.

The official `twilio.rest.Client` reaches it through its own `http_client` option: StandinHttpClient is a
TwilioHttpClient that sends each request to the stand-in instead of https://api.twilio.com.
"""

from __future__ import annotations

import secrets
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient

from harness.standins._http import Reply, Request, StandinServer

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "standin-auth-token"  # a test credential for the stand-in
_ACCOUNT = r"/2010-04-01/Accounts/AC[0-9a-f]{32}"
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")  # two septets each


def segments(body: str) -> int:
    """Segments Twilio bills for `body`: GSM-7 160 (153 per part), else UCS-2 70 (67 per part)."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        length, single, part = sum(2 if c in _GSM7_EXTENDED else 1 for c in body), 160, 153
    else:
        length, single, part = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if length <= single else -(-length // part)


class TwilioStandin(StandinServer):
    def __init__(self) -> None:
        super().__init__(
            {
                ("POST", _ACCOUNT + r"/Messages\.json"): self._create_message,
                ("POST", _ACCOUNT + r"/Calls\.json"): self._create_call,
            }
        )

    def _create_message(self, request: Request) -> Reply:
        form = _form(request)
        body, media = form.get("Body", [""])[0], form.get("MediaUrl", [])
        if not form.get("To"):
            return _error(21604, "A 'To' phone number is required.")
        sid = "SM" + secrets.token_hex(16)
        return Reply.json(
            201,
            {
                **_common(request, sid, "Messages"),
                "body": body,
                "direction": "outbound-api",
                "from": form.get("From", [None])[0],
                "to": form["To"][0],
                "messaging_service_sid": form.get("MessagingServiceSid", [None])[0],
                "num_media": str(len(media)),
                "num_segments": str(segments(body)),
                "status": "queued",
                "price_unit": "USD",
                "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"},
            },
        )

    def _create_call(self, request: Request) -> Reply:
        form = _form(request)
        if not form.get("To"):
            return _error(21201, "No 'To' number is specified")
        sid = "CA" + secrets.token_hex(16)
        return Reply.json(
            201,
            {
                **_common(request, sid, "Calls"),
                "direction": "outbound-api",
                "from": form.get("From", [None])[0],
                "to": form["To"][0],
                "status": "queued",
                "duration": None,
                "start_time": None,
                "end_time": None,
                "answered_by": None,
                "parent_call_sid": None,
            },
        )


def _form(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.body.decode(), keep_blank_values=True)


def _common(request: Request, sid: str, resource: str) -> dict[str, Any]:
    now = formatdate(usegmt=True)
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "price": None,
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/{resource}/{sid}.json",
    }


def _error(code: int, message: str, status: int = 400) -> Reply:
    return Reply.json(
        status,
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
    )


def twilio_error(code: int = 21211, message: str = "The 'To' number +1555 is not a valid phone number.") -> Reply:
    """A 400 as the Twilio API sends it; queue it with `standin.respond_next(...)`."""
    return _error(code, message)


class StandinHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's own requests-based client, pointed at the stand-in (the SDK builds https://api.twilio.com URLs)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        target = self._base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, target, *args, **kwargs)


class AsyncStandinHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Twilio's own aiohttp-based client, pointed at the stand-in (for `create_async`)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(pool_connections=False)  # a session per request: no event loop is bound at construction
        self._base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        target = self._base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return await super().request(method, target, *args, **kwargs)
