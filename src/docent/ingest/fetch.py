"""Download one web page or PDF for ingestion, without letting a URL reach inside the network.

A URL given by a user is an SSRF vector: it can name the cloud metadata service, a database
on localhost or an admin page on the intranet, directly or through a redirect or a DNS name
that changes its answer between our check and our connection. `UrlFetcher` therefore:

- accepts only http(s) URLs with a host and no credentials;
- resolves the host once, refuses when any resolved address is internal, and then connects to
  that very address (the request is pinned to the IP; Host header and TLS SNI keep the name);
- follows redirects itself, re-validating every hop;
- streams the body under a byte limit and an overall deadline;
- keeps only HTML pages and PDFs, judged by the declared type and by the bytes themselves.

Every httpx error is translated here into `FetchError`, whose `code` is stable.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from docent.config import Settings
from docent.errors import ErrorCode
from docent.ingest.addresses import METADATA_HOSTNAMES, IPAddress, is_forbidden_address
from docent.ingest.types import ContentType

MAX_URL_LENGTH = 4096
_SNIFF_BYTES = 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HOST_NAME = re.compile(r"[a-z0-9_.-]+", re.IGNORECASE)


_HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types that say nothing about the content; for these the bytes decide.
_GENERIC_MEDIA_TYPES = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/unknown", "unknown/unknown"}
)
# The tags the WHATWG sniffing algorithm takes as the start of an HTML document.
_MARKUP_START = re.compile(
    rb"\s*(?:<!--|<(?:!doctype\s+html|html|head|body|script|iframe|h1|div|font|table|a|style"
    rb"|title|b|br|p|meta|link)[\s/>])",
    re.IGNORECASE,
)
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_UNSAFE_FILENAME_CHARS = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')


@dataclass(frozen=True)
class FetchPolicy:
    timeout_seconds: float = 15.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    allow_private_addresses: bool = False
    user_agent: str = "Docent/0.1 (+self-hosted document assistant)"

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(
            timeout_seconds=settings.url_fetch_timeout_seconds,
            max_bytes=settings.url_fetch_max_mb * 1024 * 1024,
            max_redirects=settings.url_fetch_max_redirects,
            allow_private_addresses=settings.url_allow_private_addresses,
        )


@dataclass(frozen=True)
class FetchedResource:
    url: str  # the final URL, after redirects
    content_type: ContentType  # HTML or PDF
    data: bytes
    filename: str  # derived from the final URL path; never contains a slash


class FetchError(Exception):
    """The URL cannot be fetched; `code` is the one the refused request answers with, `message` is for
    people and never holds credentials."""

    def __init__(self, code: ErrorCode, message: str, status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status = status  # the HTTP status the site answered with, when that was the failure
        super().__init__(message)


class UrlFetcher:
    """Fetches one URL under a `FetchPolicy`; `transport` is for tests (default: a fresh one per fetch)."""

    def __init__(self, policy: FetchPolicy, transport: httpx.BaseTransport | None = None) -> None:
        self._policy = policy
        self._transport = transport

    def fetch(self, url: str, *, plain_text: bool = False) -> FetchedResource:
        """The resource at `url` (HTML or PDF; with `plain_text`, also text/plain, e.g. robots.txt)."""
        deadline = time.monotonic() + self._policy.timeout_seconds
        target = _parse_url(url)
        with self._open_transport() as transport:
            for _ in range(self._policy.max_redirects + 1):
                with _translated_errors(target.host):
                    outcome = self._hop(transport, target, deadline, plain_text)
                if isinstance(outcome, FetchedResource):
                    return outcome
                target = outcome
        raise FetchError(ErrorCode.FETCH_FAILED, f"gave up after {self._policy.max_redirects} redirects")

    @contextmanager
    def _open_transport(self) -> Iterator[httpx.BaseTransport]:
        if self._transport is not None:
            yield self._transport
            return
        # No keep-alive: a pooled TLS connection is keyed by IP, so reusing it for another host
        # name on the same IP would skip the certificate check for that name.
        transport = httpx.HTTPTransport(retries=0, limits=httpx.Limits(max_keepalive_connections=0))
        try:
            yield transport
        finally:
            transport.close()

    def check(self, url: str) -> None:
        """Refuse (`FetchError`) a URL that is malformed or names an address this policy may not fetch."""
        _resolve_allowed(_parse_url(url), self._policy.allow_private_addresses)

    def _hop(
        self, transport: httpx.BaseTransport, target: httpx.URL, deadline: float, plain_text: bool
    ) -> FetchedResource | httpx.URL:
        """One request: the resource, or the validated URL to go to next."""
        response = self._send(transport, target, deadline)
        try:
            if response.status_code in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(ErrorCode.FETCH_FAILED, f"{target.host} redirected without a Location")
                return _redirect_target(target, location)
            if not 200 <= response.status_code < 300:
                status = response.status_code
                raise FetchError(ErrorCode.FETCH_FAILED, f"{target.host} answered HTTP {status}", status)
            data, kind = self._read_body(response, deadline, plain_text)
        finally:
            response.close()
        return FetchedResource(
            url=str(target), content_type=kind, data=data, filename=_filename(target, kind)
        )

    def _send(self, transport: httpx.BaseTransport, target: httpx.URL, deadline: float) -> httpx.Response:
        addresses = _resolve_allowed(target, self._policy.allow_private_addresses)
        for index, address in enumerate(addresses):
            request = self._pinned_request(target, address, _remaining(deadline))
            try:
                return transport.handle_request(request)
            except httpx.ConnectError:
                # Like a browser, try the host's next address; all of them passed the check.
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable: _resolve_allowed returns at least one address")

    def _pinned_request(self, target: httpx.URL, address: IPAddress, timeout: float) -> httpx.Request:
        """A request to `target` that connects to `address`, the IP we checked.

        Connecting by name would let httpx resolve the name again, and a DNS server that answers
        a public IP to our check and 127.0.0.1 to the connection (DNS rebinding) would get
        through. So the URL carries the IP, while the Host header and the TLS server name (SNI,
        which is also the name the certificate is verified against) carry the original name.
        """
        host = target.raw_host.decode("ascii")
        extensions: dict[str, object] = {
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        }
        if target.scheme == "https" and not _is_ip_literal(host):
            extensions["sni_hostname"] = host
        headers = {
            "Host": target.netloc.decode("ascii"),
            "User-Agent": self._policy.user_agent,
            "Accept": "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.1",
        }
        return httpx.Request(
            "GET", target.copy_with(host=str(address)), headers=headers, extensions=extensions
        )

    def _read_body(
        self, response: httpx.Response, deadline: float, plain_text: bool
    ) -> tuple[bytes, ContentType]:
        limit = self._policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        parts: list[bytes] = []
        size = 0
        kind: ContentType | None = None
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            parts.append(chunk)
            # The read timeout bounds each wait; this bounds a server that trickles bytes.
            if time.monotonic() > deadline:
                raise _timed_out()
            if kind is None and size >= _SNIFF_BYTES:
                # Decide early so a large video is refused as such, not downloaded first.
                kind = _classify(media_type, b"".join(parts)[:_SNIFF_BYTES], plain_text)
        data = b"".join(parts)
        return data, kind or _classify(media_type, data[:_SNIFF_BYTES], plain_text)


def _parse_url(raw: str, *, redirect: bool = False) -> httpx.URL:
    """The URL to fetch, or `invalid_url`; the messages never repeat the URL (it may hold a password)."""
    where = "the redirect target" if redirect else "the URL"

    def invalid(reason: str) -> FetchError:
        return FetchError(ErrorCode.INVALID_URL, f"{where} {reason}")

    if len(raw) > MAX_URL_LENGTH:
        raise invalid(f"is longer than {MAX_URL_LENGTH} characters")
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise invalid("is malformed") from None
    if url.scheme not in ("http", "https"):
        raise invalid("must start with http:// or https://")
    if url.userinfo:
        raise invalid("must not contain a user name or password")
    host = url.raw_host.decode("ascii", errors="replace")
    if not host:
        raise invalid("has no host")
    if not (_is_ip_literal(host) or _HOST_NAME.fullmatch(host)):
        raise invalid("has a malformed host")
    if url.port is not None and not 0 < url.port < 65536:
        raise invalid("has an invalid port")
    return url.copy_with(fragment=None)


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        joined = current.join(location)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise FetchError(ErrorCode.INVALID_URL, "the redirect target is malformed") from None
    return _parse_url(str(joined), redirect=True)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve_allowed(url: httpx.URL, allow_private: bool) -> list[IPAddress]:
    """All addresses of the URL's host, or `url_forbidden` when any one of them is forbidden."""
    host = url.raw_host.decode("ascii")
    if host.rstrip(".").lower() in METADATA_HOSTNAMES:
        raise FetchError(ErrorCode.URL_FORBIDDEN, f"{host} is a cloud metadata service")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchError(ErrorCode.FETCH_FAILED, f"could not resolve the host {host}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]))
        if address not in addresses:
            addresses.append(address)
    # Any, not all: an attacker who controls the name can order the answers.
    if not addresses or any(
        is_forbidden_address(a, allow_private_addresses=allow_private) for a in addresses
    ):
        raise FetchError(ErrorCode.URL_FORBIDDEN, f"{host} resolves to an address that may not be fetched")
    return addresses


def _classify(media_type: str, head: bytes, plain_text: bool = False) -> ContentType:
    """HTML or PDF (or plain text, when asked) from the declared type and the first bytes, or
    `unsupported_media_type`."""
    if head.startswith(b"%PDF-"):
        return ContentType.PDF
    body = head.removeprefix(b"\xef\xbb\xbf")
    if plain_text and media_type == "text/plain" and not _BINARY_BYTES.search(body):
        return ContentType.TEXT
    if media_type in _HTML_MEDIA_TYPES and not _BINARY_BYTES.search(body):
        return ContentType.HTML
    if media_type in _GENERIC_MEDIA_TYPES and _MARKUP_START.match(body):
        return ContentType.HTML
    if media_type == "application/pdf" or media_type in _HTML_MEDIA_TYPES:
        reason = f"is declared as {media_type} but its content is not"
    else:
        reason = f"is {media_type or 'of no declared type'}"
    raise FetchError(
        ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"only HTML pages and PDFs can be fetched; this {reason}"
    )


def _filename(url: httpx.URL, kind: ContentType) -> str:
    """A file name from the last path segment, made safe and given the extension of its type."""
    last = url.path.rsplit("/", 1)[-1]  # httpx has already percent-decoded the path
    name = _UNSAFE_FILENAME_CHARS.sub("_", last).strip().lstrip(".")[:150]
    if kind is ContentType.PDF:
        if not name:
            return "document.pdf"
        return name if name.lower().endswith(".pdf") else f"{name}.pdf"
    if not name:
        return "index.html"
    return name if name.lower().endswith((".html", ".htm")) else f"{name}.html"


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _timed_out()
    return remaining


def _timed_out() -> FetchError:
    return FetchError(ErrorCode.FETCH_TIMEOUT, "the download took longer than allowed")


def _too_large(limit: int) -> FetchError:
    return FetchError(ErrorCode.DOCUMENT_TOO_LARGE, f"the download is larger than {limit} bytes")


@contextmanager
def _translated_errors(host: str) -> Iterator[None]:
    """httpx and socket errors become `FetchError`; our own pass through unchanged."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise _timed_out() from exc
    except httpx.ConnectError as exc:
        reason = "its TLS certificate is not valid" if "CERTIFICATE" in str(exc) else "the connection failed"
        raise FetchError(ErrorCode.FETCH_FAILED, f"could not connect to {host}: {reason}") from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
        raise FetchError(ErrorCode.FETCH_FAILED, f"the download from {host} failed") from exc
