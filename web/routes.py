"""GET /settings/billing/usage (the page), its CSV download and its static assets.

The page is rendered on the server from the read service (the same queries as /api/billing/usage/*),
with the tenant from the read token in the page's cookie. Errors here are HTML pages, not the API's
JSON envelope: a tenant admin following a stale link should read what to do, never a stack trace.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Stream, Template
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from ledger_service.errors import BadRequestError, LedgerError, UnauthorizedError
from ledger_service.read.service import ReadService
from ledger_service.settings import Settings
from web import auth, chart
from web.form import filter_form
from web.query import (
    CSV_ROUTE,
    PAGE_PATH,
    PAGE_ROUTE,
    STATIC_ROUTE,
    PageLinks,
    PageQuery,
    csv_selection,
    events_request,
    page_url,
    parse_page,
    summary_request,
)
from web.view import UsageView, ViewContext, usage_view

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
STATIC_PATH = "/static/usage"

# Every asset comes from this service; no script at all (the page works without one), no inline styles.
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # A tenant's usage is private: not kept by shared caches, and never named to a trace UI in a Referer.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return dict(request.query_params.items())


def _links(request: Request[Any, Any, Any]) -> PageLinks:
    return PageLinks(request.app.route_reverse(PAGE_ROUTE), request.app.route_reverse(CSV_ROUTE))


@get(PAGE_PATH, name=PAGE_ROUTE, include_in_schema=False)
async def usage_page(
    request: Request[Any, Any, Any], read: NamedDependency[ReadService], settings: NamedDependency[Settings]
) -> Response[Any]:
    params = _params(request)
    token = params.pop("token", None)
    if token is not None:
        return _sign_in(request, settings, token, params)
    tenant = auth.tenant_from_cookie(request, settings)
    try:
        query = parse_page(params, settings.catalog, settings.summary_max_days)
    except BadRequestError as exc:
        return _page(tenant, params, settings, None, None, exc)
    links = _links(request)
    canonical = page_url(links, query)
    # Blank form fields and unknown parameters dropped: the address bar holds exactly the view. Not when a
    # filter was set aside: the page says so, and a redirect would lose what it says.
    if query.dropped_type is None and sorted(params.items()) != sorted(parse_qsl(urlsplit(canonical).query)):
        return Redirect(canonical, status_code=303, headers=SECURITY_HEADERS)
    try:
        summary = await read.summary(tenant, summary_request(query))
        events = await read.events(tenant, events_request(query))
    except BadRequestError as exc:  # e.g. an edited cursor
        return _page(tenant, params, settings, query, None, exc)
    view = usage_view(tenant, query, summary, events, ViewContext(links, settings.trace_url_template, settings.catalog))
    return _page(tenant, params, settings, query, view)


@get(f"{PAGE_PATH}/events.csv", name=CSV_ROUTE, include_in_schema=False)
async def usage_csv(
    request: Request[Any, Any, Any], read: NamedDependency[ReadService], settings: NamedDependency[Settings]
) -> Stream:
    tenant = auth.tenant_from_cookie(request, settings)
    query = parse_page(_params(request), settings.catalog)  # no period limit: a CSV is streamed
    rows = read.events_csv(tenant, csv_selection(query))
    filename = f"usage-events-{query.first}-to-{query.last}.csv"
    headers = SECURITY_HEADERS | {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Stream(rows, media_type="text/csv; charset=utf-8", headers=headers)


def _sign_in(request: Request[Any, Any, Any], settings: Settings, token: str, params: dict[str, str]) -> Template:
    """Store the verified token in the cookie and move on to the same view without it in the URL.

    Not an HTTP redirect: the token link is usually followed from the host app, another site, and a
    browser does not send a SameSite=Strict cookie on a redirect that a cross-site click started. A
    refresh issued by this page is a same-site navigation, so the cookie goes along.

    A link whose token fails is answered with a 401 page before anything is stored. It never ends a
    session that still holds: anyone can send a broken link, and following one must not sign anybody out.
    """
    target = _canonical(_links(request), params, settings)
    try:
        cookie = auth.exchange(request, settings, token)
    except UnauthorizedError as exc:
        current = auth.signed_in_tenant(request, settings)
        if current is None:
            raise  # the 401 page, which also clears a cookie that no longer works
        problem = auth.sign_in_problem(exc, via_link=True)
        context = {"problem": replace(problem, signed_in_as=current, continue_url=target), "error": exc}
        return Template("error.html", context=context, status_code=exc.status, headers=SECURITY_HEADERS)
    return Template("signin.html", context={"next": target}, cookies=[cookie], headers=SECURITY_HEADERS)


def _canonical(links: PageLinks, params: dict[str, str], settings: Settings) -> str:
    try:
        query = parse_page(params, settings.catalog, settings.summary_max_days)
    except BadRequestError:
        return links.page  # a link with a bad filter still signs in; the page then shows the defaults
    # A type set aside stays in the URL, so the page the link opens says why it is not applied.
    return page_url(links, replace(query, event_type=query.dropped_type or query.event_type))


def _page(
    tenant: str,
    params: dict[str, str],
    settings: Settings,
    query: PageQuery | None,
    view: UsageView | None,
    error: LedgerError | None = None,
) -> Template:
    context = {
        "tenant": tenant,
        "form": filter_form(params, settings.catalog, query),
        "view": view,
        "error": error,
        "svg": {
            "width": chart.WIDTH,
            "height": chart.HEIGHT,
            "left": chart.LEFT,
            "right": chart.WIDTH - chart.RIGHT,
            "top": chart.TOP,
            "baseline": chart.HEIGHT - chart.BOTTOM,
        },
    }
    status = error.status if error else 200
    return Template("usage.html", context=context, status_code=status, headers=SECURITY_HEADERS)


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if not isinstance(exc, LedgerError):
        log.exception("usage page failed", exc_info=exc)
        exc = LedgerError("something went wrong on our side; please try again in a moment")
    elif exc.status >= 500:  # e.g. the database is restarting (503): worth a line in the log, not a traceback
        log.error("usage page failed: %s", exc.message)
    problem = None
    if isinstance(exc, UnauthorizedError):
        problem = auth.sign_in_problem(exc, via_link="token" in request.query_params)
    context = {"error": exc, "problem": problem}
    # A cookie that no longer works is cleared; a request without one gets no Set-Cookie at all.
    cookies = [auth.forget(request)] if problem and auth.COOKIE_NAME in request.cookies else []
    return Template("error.html", context=context, status_code=exc.status, headers=SECURITY_HEADERS, cookies=cookies)


page_router = Router(
    path="/",
    route_handlers=[usage_page, usage_csv],
    # LedgerError too: the app maps it to the API's JSON envelope, and the most specific class wins.
    exception_handlers={LedgerError: _error_page, Exception: _error_page},
)

static_router = create_static_files_router(
    path=STATIC_PATH,
    directories=[_HERE / "static"],
    name=STATIC_ROUTE,
    cache_control=CacheControlHeader(max_age=3600),
    include_in_schema=False,
)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name in a template fails the tests instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))
