"""The web app's pages, its static files, and the API docs (/docs, /redoc) served without any CDN.

Pages are small HTML shells: the content is drawn by ES modules from the JSON API (no build step, no
framework, no inline script, so the strict Content-Security-Policy holds). Pages are never cached;
assets are, by content-hashed names.
"""

from __future__ import annotations

import importlib.util
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from docent.api import session as web_session
from docent.api.assets import StaticAssets
from docent.api.security_headers import PAGE_CSP
from docent.errors import DocentError, ErrorCode

router = APIRouter(include_in_schema=False)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
_NO_STORE = {"Cache-Control": "no-store"}
# Swagger UI and ReDoc set style attributes and inject <style> elements as they draw: on their two pages
# only, styles may be inline. Scripts stay as strict as everywhere else.
_DOCS_CSP = PAGE_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "worker-src 'self'", "worker-src 'self' blob:"
)
_IMMUTABLE = "public, max-age=31536000, immutable"
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
ADMIN_SECTIONS = ("users", "groups", "usage", "audit", "feedback", "index")
_SSO_FAILED = (
    "Single sign-on did not succeed: the sign-in may have taken too long, or been started in another "
    "window or browser. Please try again."
)
# Why a single sign-on came back to the sign-in page (`?sso_error=<code>`, docent.api.routes.oidc): our own
# words for our own codes, so a crafted link can put no text of its choosing on the page.
_SSO_NOTICES = {
    ErrorCode.SSO_FAILED.value: _SSO_FAILED,
    **{
        code.value: code.default_message
        for code in (
            ErrorCode.SSO_NOT_CONFIGURED,
            ErrorCode.SSO_EMAIL_UNVERIFIED,
            ErrorCode.SSO_ACCOUNT_CONFLICT,
            ErrorCode.ACCOUNT_DEACTIVATED,
        )
    },
}


def build_assets() -> StaticAssets:
    """Our files, and Swagger UI 5.32.6 and ReDoc 2.5.3 from the `fastapi-offline` wheel (its files only;
    its code is not used)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the fastapi-offline package is missing: it ships the /docs and /redoc files")
    docs = Path(next(iter(spec.submodule_search_locations))) / "static"
    return StaticAssets(
        {"": WEB_DIR / "static"},
        {
            "swagger/swagger-ui-bundle.js": docs / "swagger-ui-bundle.js",
            "swagger/swagger-ui.css": docs / "swagger-ui.css",
            "redoc/redoc.standalone.js": docs / "redoc.standalone.js",
        },
        # ReDoc shows its maker's logo from their CDN in the sidebar: ours instead, so nothing is fetched
        # from another host (the page's policy would block it, with an error in the console).
        {"redoc/redoc.standalone.js": [(_REDOC_LOGO, b"/static/favicon.svg")]},
    )


def _assets(request: Request) -> StaticAssets:
    assets: StaticAssets = request.app.state.assets
    return assets


def _shell(request: Request, page: str, title: str, *, status: int = 200, message: str = "") -> HTMLResponse:
    assets = _assets(request)
    body = f"<p class='page-message'>{escape(message)}</p>" if message else ""
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{escape(title)} · Docent</title>
<link rel="icon" href="{assets.url("favicon.svg")}" type="image/svg+xml">
<link rel="stylesheet" href="{assets.url("app.css")}">
<script type="module" src="{assets.url("app.js")}"></script>
</head>
<body data-page="{escape(page)}">
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar" id="topbar"><a class="brand" href="/">Docent</a></header>
<main id="main" tabindex="-1">{body}<noscript><p>Docent's pages need JavaScript.</p></noscript></main>
</body>
</html>
"""
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


@router.get("/", response_class=HTMLResponse)
@router.get("/chat", response_class=HTMLResponse)
def chat_page(request: Request) -> HTMLResponse:
    return _shell(request, "chat", "Chat")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    sso_error = request.query_params.get("sso_error")
    notice = _SSO_NOTICES.get(sso_error, _SSO_FAILED) if sso_error else ""
    return _shell(request, "login", "Sign in", message=notice)


@router.get("/documents", response_class=HTMLResponse)
def documents_page(request: Request) -> HTMLResponse:
    return _shell(request, "documents", "Documents")


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, document_id: str) -> HTMLResponse:
    del document_id  # the page reads it from its address
    return _shell(request, "document", "Document")


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request) -> HTMLResponse:
    return _shell(request, "account", "Account")


@router.get("/admin", response_class=HTMLResponse)
@router.get("/admin/{section}", response_class=HTMLResponse)
def admin_page(request: Request, section: str = "users") -> HTMLResponse:
    if section not in ADMIN_SECTIONS:
        return _shell(request, "missing", "Not found", status=404, message="There is no such page.")
    if _signed_in_member(request):
        return _shell(
            request, "forbidden", "Not allowed", status=403, message="Administration needs the admin role."
        )
    return _shell(request, "admin", "Administration")


def _signed_in_member(request: Request) -> bool:
    """Whether the session cookie names a user without the admin role. Without a valid cookie the shell
    is served: it asks to sign in, and the admin API answers 403 to anyone but an admin anyway."""
    token = web_session.access_cookie(request)
    if not token:
        return False
    container = request.app.state.container
    try:
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.authenticate(uow, token)
    except DocentError:
        return False
    return not principal.is_admin


@router.get("/static/{name:path}")
def static_file(request: Request, name: str) -> Response:
    asset = _assets(request).get(name)
    if asset is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {
        "ETag": asset.etag,
        "Cache-Control": _IMMUTABLE if asset.immutable else "no-cache",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    body = asset.body
    gzipped = asset.gzipped() if "gzip" in request.headers.get("accept-encoding", "") else None
    if gzipped is not None:
        body, headers["Content-Encoding"] = gzipped, "gzip"
    return Response(body, media_type=asset.content_type, headers=headers)


def _docs_page(request: Request, title: str, styles: list[str], scripts: list[str]) -> HTMLResponse:
    assets = _assets(request)
    links = "".join(f'<link rel="stylesheet" href="{assets.url(s)}">' for s in styles)
    tags = "".join(f'<script src="{assets.url(s)}" defer></script>' for s in scripts)
    html = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><link rel="icon" href="{assets.url("favicon.svg")}" type="image/svg+xml">
{links}{tags}</head>
<body><main id="api-docs" data-openapi="{escape(request.app.openapi_url or "/openapi.json")}"></main></body>
</html>
"""
    return HTMLResponse(html, headers={**_NO_STORE, "Content-Security-Policy": _DOCS_CSP})


@router.get("/docs", response_class=HTMLResponse)
def swagger_page(request: Request) -> HTMLResponse:
    return _docs_page(
        request,
        "Docent API · Swagger UI",
        ["swagger/swagger-ui.css", "docs.css"],
        ["swagger/swagger-ui-bundle.js", "docs-init.js"],
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc_page(request: Request) -> HTMLResponse:
    return _docs_page(
        request, "Docent API · ReDoc", ["docs.css"], ["redoc/redoc.standalone.js", "redoc-init.js"]
    )
