"""The OpenAPI document (/schema/openapi.json) and its Swagger UI (/schema/swagger), served without internet.

Litestar's render plugins load their UI from a CDN by default; here every asset comes from this service:
Swagger UI's own distribution, as the swagger-ui-bundle-v2 package ships it (version 5, which reads OpenAPI
3.1), under /static/api-docs. The schema is embedded in the page, so the UI makes no request but for those
files.
"""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from ledger_service.api.openapi import SECURITY_SCHEMES

SCHEMA_PATH = "/schema"
ASSETS_PATH = "/static/api-docs"
ASSETS_ROUTE = "api_docs_assets"


def openapi_config() -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        path="/swagger",
    )
    return OpenAPIConfig(
        title="usage-ledger",
        version="0.2.0",
        path=SCHEMA_PATH,
        # The first plugin also answers at /schema itself.
        render_plugins=[swagger, JsonRenderPlugin()],
        components=Components(security_schemes=dict(SECURITY_SCHEMES)),
    )


def docs_assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_path],
        name=ASSETS_ROUTE,
        cache_control=CacheControlHeader(max_age=86_400),
        include_in_schema=False,
    )
