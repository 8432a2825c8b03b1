"""Browser sessions: tokens in HttpOnly cookies, and the cross-site request forgery checks they need.

The web app never holds a token a script could read: the access and refresh tokens travel in HttpOnly
cookies (SameSite, `Secure` and the `__Host-` prefix over https). A cookie is sent by the browser whoever
made the page that asks, so every state-changing request authenticated by a cookie must also

- carry `X-CSRF-Token`, equal to the session's CSRF token: an HMAC of the login session, given to the page
  in a cookie that scripts may read (a page of another site can neither read it nor set the header), and
- when the browser says where the request comes from (`Origin`, `Sec-Fetch-Site`), come from this site.

Requests with `Authorization: Bearer …` are not affected: no browser adds that header by itself.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from docent.errors import DocentError, ErrorCode

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})  # "none": typed in the address bar, a bookmark


@dataclass(frozen=True)
class CookieNames:
    access: str
    refresh: str
    csrf: str


_PLAIN = CookieNames("docent_access", "docent_refresh", "docent_csrf")
# Over https: a `__Host-` cookie is only accepted when Secure, for path /, and set by this very host, so a
# neighbouring subdomain cannot plant one (which would defeat the double submit).
_HOST = CookieNames("__Host-docent_access", "__Host-docent_refresh", "__Host-docent_csrf")


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def names_for(request: Request) -> CookieNames:
    return _HOST if is_secure(request) else _PLAIN


def access_cookie(request: Request) -> str | None:
    return request.cookies.get(names_for(request).access) or None


def refresh_cookie(request: Request) -> str | None:
    return request.cookies.get(names_for(request).refresh) or None


def set_session_cookies(
    request: Request,
    response: Response,
    *,
    access_token: str,
    refresh_token: str,
    csrf_token: str,
    access_seconds: int,
    refresh_seconds: int,
) -> None:
    names, secure = names_for(request), is_secure(request)
    # Lax for the access token, so that following a link to Docent from elsewhere opens it signed in; the
    # refresh token only ever goes to Docent's own fetches (Strict).
    response.set_cookie(
        names.access, access_token, max_age=access_seconds, path="/", httponly=True, secure=secure,
        samesite="lax",
    )  # fmt: skip
    response.set_cookie(
        names.refresh, refresh_token, max_age=refresh_seconds, path="/", httponly=True, secure=secure,
        samesite="strict",
    )  # fmt: skip
    response.set_cookie(
        names.csrf, csrf_token, max_age=refresh_seconds, path="/", httponly=False, secure=secure,
        samesite="strict",
    )  # fmt: skip


def clear_session_cookies(request: Request, response: Response) -> None:
    names, secure = names_for(request), is_secure(request)
    for name, http_only in ((names.access, True), (names.refresh, True), (names.csrf, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="lax")


def ensure_same_origin(request: Request) -> None:
    """Refuse a request that the browser says comes from another site. Browsers send `Origin` on every
    cross-origin request and on same-origin POSTs; `Sec-Fetch-Site` on every request (recent browsers)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in _SAME_SITE_FETCH:
        raise DocentError(ErrorCode.CSRF_FAILED, details={"reason": "cross_site_fetch"})
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        raise DocentError(ErrorCode.CSRF_FAILED, details={"reason": "foreign_origin"})


def own_origin(request: Request) -> str:
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{host}"


def ensure_csrf(request: Request, expected_token: str) -> None:
    """A state-changing request authenticated by cookie: same site, and the session's CSRF token echoed."""
    if request.method in SAFE_METHODS:
        return
    ensure_same_origin(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, expected_token):
        raise DocentError(ErrorCode.CSRF_FAILED, details={"reason": "csrf_token"})
