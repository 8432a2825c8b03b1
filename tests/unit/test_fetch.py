"""The URL fetcher against real HTTP servers on 127.0.0.1, plus its address classifier."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.errors import ErrorCode
from docent.ingest.addresses import IPAddress, is_forbidden_address
from docent.ingest.fetch import FetchedResource, FetchError, FetchPolicy, UrlFetcher
from docent.ingest.types import ContentType
from tests.http_servers import serving

HTML = b"<!DOCTYPE html><html><head><title>Guide</title></head><body><p>Hello</p></body></html>"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
LOCAL = FetchPolicy(allow_private_addresses=True)

Route = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.paths: list[str] = []
        self.connections = 0
        self.release = threading.Event()  # lets slow handlers finish at teardown

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the fetcher hangs up on purpose (too large, too slow); that is not an error here

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[_Server]:
    yield from _serving(_Server())


def _serving(srv: _Server) -> Iterator[_Server]:
    with serving(srv, before_stop=srv.release.set):
        yield srv


def _reply(
    body: bytes, content_type: str | None, status: int = 200, headers: dict[str, str] | None = None
) -> Route:
    def route(handler: _Handler) -> None:
        handler.send_response(status)
        if content_type is not None:
            handler.send_header("Content-Type", content_type)
        for name, value in (headers or {"Content-Length": str(len(body))}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def _redirect(location: str, status: int = 302) -> Route:
    return _reply(b"", None, status, {"Location": location, "Content-Length": "0"})


def _chunked(body: bytes, chunk: int = 256) -> Route:
    def route(handler: _Handler) -> None:
        handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for start in range(0, len(body), chunk):
            part = body[start : start + chunk]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        handler.wfile.write(b"0\r\n\r\n")

    return route


def _fetch_error(fetcher: UrlFetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert isinstance(caught.value.code, ErrorCode)  # the code the refused request answers with
    return caught.value


class _RecordingTransport(httpx.MockTransport):
    """Answers every request with `answer` and keeps the requests; for checks that need no socket."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []

        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return answer(request) if answer else httpx.Response(200, html=HTML.decode())

        super().__init__(handle)


# ---------- what comes back ----------


def test_html_page(server: _Server) -> None:
    server.routes["/guide/intro"] = _reply(HTML, "text/html; charset=utf-8")
    got = UrlFetcher(LOCAL).fetch(server.url("/guide/intro#top"))
    assert got == FetchedResource(
        url=server.url("/guide/intro"), content_type=ContentType.HTML, data=HTML, filename="intro.html"
    )


def test_pdf_is_recognised_by_its_bytes(server: _Server) -> None:
    server.routes["/files/Annual%20Report.pdf"] = _reply(PDF, "application/octet-stream")
    server.routes["/download"] = _reply(PDF, None)
    got = UrlFetcher(LOCAL).fetch(server.url("/files/Annual%20Report.pdf?v=2"))
    assert (got.content_type, got.data, got.filename) == (ContentType.PDF, PDF, "Annual Report.pdf")
    assert UrlFetcher(LOCAL).fetch(server.url("/download?id=7")).filename == "download.pdf"


def test_untyped_markup_is_html_and_filenames_never_hold_a_slash(server: _Server) -> None:
    server.routes["/a%2F..%2Fb"] = _reply(b"\xef\xbb\xbf\n  <html><body>hi</body></html>", None)
    got = UrlFetcher(LOCAL).fetch(server.url("/a%2F..%2Fb"))
    assert got.content_type is ContentType.HTML
    assert "/" not in got.filename and "\\" not in got.filename
    assert got.filename.endswith(".html")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (PNG, "image/png"),
        (HTML, "image/png"),  # a type that is declared and is neither is believed
        (PNG, "text/html"),  # ...but a declared HTML page full of binary bytes is not
        (HTML, "application/pdf"),
        (b'{"a": 1}', "application/json"),
        (b"just some bytes", "application/octet-stream"),
        (b"x" * 5000, "video/mp4"),
    ],
)
def test_neither_html_nor_pdf_is_refused(server: _Server, body: bytes, content_type: str) -> None:
    server.routes["/thing"] = _reply(body, content_type)
    assert _fetch_error(UrlFetcher(LOCAL), server.url("/thing")).code == "unsupported_media_type"


@pytest.mark.parametrize("status", [404, 500, 304])
def test_error_status_is_fetch_failed_and_says_the_status(server: _Server, status: int) -> None:
    server.routes["/gone"] = _reply(b"", "text/html", status, {"Content-Length": "0"})
    error = _fetch_error(UrlFetcher(LOCAL), server.url("/gone"))
    assert (error.code, str(status) in error.message) == ("fetch_failed", True)


def test_nothing_listening_is_fetch_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert _fetch_error(UrlFetcher(LOCAL), f"http://127.0.0.1:{port}/").code == "fetch_failed"


# ---------- redirects ----------


def test_redirect_chain_is_followed(server: _Server) -> None:
    server.routes["/a"] = _redirect("/b", 301)
    server.routes["/b"] = _redirect(server.url("/c"), 307)
    server.routes["/c"] = _redirect("docs/", 303)
    server.routes["/docs/"] = _reply(HTML, "text/html")
    got = UrlFetcher(LOCAL).fetch(server.url("/a"))
    assert (got.url, got.filename) == (server.url("/docs/"), "index.html")
    assert server.paths == ["/a", "/b", "/c", "/docs/"]


def test_redirect_loop_stops_after_max_redirects(server: _Server) -> None:
    server.routes["/loop"] = _redirect("/loop")
    policy = FetchPolicy(allow_private_addresses=True, max_redirects=3)
    assert _fetch_error(UrlFetcher(policy), server.url("/loop")).code == "fetch_failed"
    assert len(server.paths) == 4  # the first request and three redirects


def test_redirect_to_the_metadata_service_is_refused(server: _Server) -> None:
    server.routes["/go"] = _redirect("http://169.254.169.254/latest/meta-data/")
    assert _fetch_error(UrlFetcher(LOCAL), server.url("/go")).code == "url_forbidden"


def test_redirect_from_a_public_host_to_localhost_is_refused(server: _Server) -> None:
    server.routes["/"] = _reply(HTML, "text/html")
    public = _RecordingTransport(lambda _: httpx.Response(302, headers={"Location": server.url("/")}))
    assert _fetch_error(UrlFetcher(FetchPolicy(), public), "http://93.184.216.34/x").code == "url_forbidden"
    assert len(public.requests) == 1
    assert server.connections == 0


@pytest.mark.parametrize(
    ("location", "code"),
    [("ftp://example.com/f", "invalid_url"), ("http://bob:s3cr3t-pw@example.com/", "invalid_url")],
)
def test_redirect_targets_are_validated_like_urls(server: _Server, location: str, code: str) -> None:
    server.routes["/go"] = _redirect(location)
    error = _fetch_error(UrlFetcher(LOCAL), server.url("/go"))
    assert error.code == code
    assert "s3cr3t" not in error.message


# ---------- size and time ----------


def test_declared_length_over_the_limit_is_refused_before_reading(server: _Server) -> None:
    server.routes["/huge"] = _reply(b"<html>", "text/html", headers={"Content-Length": str(10**12)})
    policy = FetchPolicy(allow_private_addresses=True, max_bytes=1000)
    assert _fetch_error(UrlFetcher(policy), server.url("/huge")).code == "document_too_large"


@pytest.mark.parametrize("framing", ["content-length", "chunked", "until-close"])
def test_body_over_the_limit_is_refused(server: _Server, framing: str) -> None:
    body = b"<html>" + b"a" * 50_000
    routes = {
        "content-length": _reply(body, "text/html"),
        "chunked": _chunked(body),
        "until-close": _reply(body, "text/html", headers={}),
    }
    server.routes["/big"] = routes[framing]
    policy = FetchPolicy(allow_private_addresses=True, max_bytes=10_000)
    assert _fetch_error(UrlFetcher(policy), server.url("/big")).code == "document_too_large"


@pytest.mark.parametrize("framing", ["chunked", "until-close"])
def test_body_at_the_limit_is_accepted(server: _Server, framing: str) -> None:
    body = b"<html>" + b"a" * 9_994
    server.routes["/ok"] = _chunked(body) if framing == "chunked" else _reply(body, "text/html", headers={})
    policy = FetchPolicy(allow_private_addresses=True, max_bytes=10_000)
    assert UrlFetcher(policy).fetch(server.url("/ok")).data == body


def test_a_server_that_never_answers_times_out(server: _Server) -> None:
    def stall(handler: _Handler) -> None:
        handler.server.release.wait(10)

    server.routes["/slow"] = stall
    policy = FetchPolicy(allow_private_addresses=True, timeout_seconds=0.5)
    assert _fetch_error(UrlFetcher(policy), server.url("/slow")).code == "fetch_timeout"


def test_a_server_that_trickles_bytes_hits_the_overall_deadline(server: _Server) -> None:
    def trickle(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        while not handler.server.release.wait(0.05):  # each wait is far below the read timeout
            handler.wfile.write(b"<p>x</p>")
            handler.wfile.flush()

    server.routes["/trickle"] = trickle
    policy = FetchPolicy(allow_private_addresses=True, timeout_seconds=0.5)
    # Without the overall deadline this download would never end (pytest-timeout would stop the run).
    assert _fetch_error(UrlFetcher(policy), server.url("/trickle")).code == "fetch_timeout"


# ---------- forbidden destinations ----------


def test_loopback_is_refused_without_connecting(server: _Server) -> None:
    port = server.server_address[1]
    for url in (
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
    ):
        assert _fetch_error(UrlFetcher(FetchPolicy()), url).code == "url_forbidden", url
    assert (server.connections, server.paths) == (0, [])


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
        "http://[fd12::1]/",
        "http://224.0.0.1/",
        "http://2130706433/",  # 127.0.0.1 spelt as one number; getaddrinfo understands it
        "http://0x7f.1/",  # 127.0.0.1 in hex and short form
        "http://192.0.0.192/latest/",  # Oracle Cloud metadata, in a block Python 3.11 calls global
        "http://168.63.129.16/machine/",  # Azure WireServer, a public-looking address
        "http://[::ffff:168.63.129.16]/",
        "http://[64:ff9b::a83f:8110]/",  # 168.63.129.16 through NAT64
        "http://198.18.0.1/",
        "http://[64:ff9b::a00:1]/",  # 10.0.0.1 through NAT64
    ],
)
def test_internal_addresses_are_refused_without_connecting(url: str) -> None:
    transport = _RecordingTransport()
    assert _fetch_error(UrlFetcher(FetchPolicy(), transport), url).code == "url_forbidden"
    assert transport.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud, inside 100.64.0.0/10
        "http://[::ffff:100.100.100.200]/",
        "http://[::ffff:6464:64c8]/",
        "http://168.63.129.16/machine/",  # Azure WireServer
        "http://192.0.0.192/latest/",  # Oracle Cloud
        "http://169.254.170.2/v2/credentials/",  # ECS task credentials
        "http://[fd00:ec2::254]:80/",
        "http://2852039166/",  # 169.254.169.254 as one decimal number
        "http://0xa9fea9fe/",  # ... as one hex number
        "http://169.254.43518/",  # ... in short form
        "http://0x64.0x64.0x64.0xc8/",  # 100.100.100.200 in hex parts
        "http://[2002:a9fe:a9fe::]/",  # 6to4 around 169.254.169.254
    ],
)
def test_metadata_service_is_refused_even_when_private_addresses_are_allowed(url: str) -> None:
    transport = _RecordingTransport()
    assert _fetch_error(UrlFetcher(LOCAL, transport), url).code == "url_forbidden"
    assert transport.requests == []


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> dict[str, int]:
    """Let `socket.getaddrinfo` answer names from `answers` (one list per call); returns call counts."""
    real = socket.getaddrinfo
    calls: dict[str, int] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls[host] = calls.get(host, 0) + 1
        ips = answers[host][min(calls[host], len(answers[host])) - 1]
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in ips
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_dns_rebinding_cannot_redirect_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_dns(monkeypatch, {"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]})
    transport = _RecordingTransport()
    got = UrlFetcher(FetchPolicy(), transport).fetch("https://rebind.test:8443/page")
    (request,) = transport.requests
    assert (request.url.host, request.url.port) == ("93.184.216.34", 8443)
    assert request.headers["Host"] == "rebind.test:8443"
    assert request.extensions["sni_hostname"] == "rebind.test"
    assert (got.url, calls) == ("https://rebind.test:8443/page", {"rebind.test": 1})


def test_a_name_with_any_internal_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"mixed.test": [["93.184.216.34", "10.1.2.3"]]})
    transport = _RecordingTransport()
    assert _fetch_error(UrlFetcher(FetchPolicy(), transport), "http://mixed.test/").code == "url_forbidden"
    assert transport.requests == []


# ---------- TLS: pinned to the IP, verified against the name ----------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=docent.test"),
            *("-addext", "subjectAltName=DNS:docent.test"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[_Server, list[str | None]]]:
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    context.sni_callback = lambda _conn, name, _ctx: names.append(name)
    srv = _Server()
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.routes["/doc.pdf"] = _reply(PDF, "application/pdf")
    for running in _serving(srv):
        yield running, names


@pytest.mark.parametrize(("name", "ok"), [("docent.test", True), ("other.test", False)])
def test_https_is_pinned_to_the_ip_and_verified_against_the_name(
    monkeypatch: pytest.MonkeyPatch,
    certificate: tuple[Path, Path],
    tls_server: tuple[_Server, list[str | None]],
    name: str,
    ok: bool,
) -> None:
    srv, sni_names = tls_server
    _fake_dns(monkeypatch, {name: [["127.0.0.1"]]})
    url = f"https://{name}:{srv.server_address[1]}/doc.pdf"
    transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(certificate[0])))
    with transport:
        fetcher = UrlFetcher(LOCAL, transport)
        if ok:
            assert fetcher.fetch(url).data == PDF
        else:
            error = _fetch_error(fetcher, url)
            assert (error.code, "certificate" in error.message) == ("fetch_failed", True)
    assert sni_names == [name]


# ---------- invalid URLs ----------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file.pdf",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "not a url",
        "",
        "http:///nohost",
        "http://alice:s3cr3t-pw@example.com/",
        "https://alice:s3cr3t-pw@127.0.0.1/",
        "http://:s3cr3t-pw@example.com/",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://example.com/" + "a" * 10_000,
    ],
)
def test_invalid_urls(url: str) -> None:
    transport = _RecordingTransport()
    error = _fetch_error(UrlFetcher(FetchPolicy(), transport), url)
    assert error.code == "invalid_url"
    assert "s3cr3t" not in error.message and "s3cr3t" not in str(error)
    assert transport.requests == []


# ---------- the address classifier ----------


@pytest.mark.parametrize(
    ("address", "strict", "relaxed"),
    [
        ("8.8.8.8", False, False),
        ("2606:4700:4700::1111", False, False),
        ("64:ff9b::808:808", False, False),  # 8.8.8.8 through NAT64
        ("127.0.0.1", True, False),
        ("::1", True, False),
        ("::ffff:127.0.0.1", True, False),
        ("10.0.0.1", True, False),
        ("172.31.255.255", True, False),
        ("192.168.0.1", True, False),
        ("100.64.0.1", True, False),
        ("fc00::1", True, False),
        ("2002:a00:1::", True, False),  # 6to4 around 10.0.0.1
        ("169.254.169.254", True, True),
        ("::ffff:169.254.169.254", True, True),
        ("fd00:ec2::254", True, True),
        ("169.254.1.1", True, True),
        ("fe80::1", True, True),
        ("0.0.0.0", True, True),  # noqa: S104 - an address to classify, not one to bind
        ("::", True, True),
        ("224.0.0.1", True, True),
        ("ff02::1", True, True),
        ("240.0.0.1", True, True),
        ("255.255.255.255", True, True),
        ("fec0::1", True, True),
        ("192.0.2.1", True, True),
        ("192.0.0.192", True, True),
        ("192.0.0.9", True, True),
        ("168.63.129.16", True, True),
        ("::ffff:168.63.129.16", True, True),
        ("100.100.100.200", True, True),
        ("100.100.100.201", True, False),
        ("::ffff:100.100.100.200", True, True),
        ("fd00:ec2::253", True, False),
        ("198.18.0.1", True, True),
    ],
)
def test_classifier_examples(address: str, strict: bool, relaxed: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert is_forbidden_address(ip) is strict
    assert is_forbidden_address(ip, allow_private_addresses=True) is relaxed


def _destination(address: IPAddress) -> IPAddress:
    """Where packets to `address` go: the IPv4 address inside mapped, 6to4 and NAT64 forms."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped or address.sixtofour:
            return address.ipv4_mapped or address.sixtofour  # type: ignore[return-value]
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(address.packed[-4:])
    return address


_OPENED_BY_ALLOWING_PRIVATE = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
] + [ipaddress.ip_network("fc00::/7")]


@given(st.ip_addresses())
def test_classifier_agrees_with_ipaddress(address: IPAddress) -> None:
    target = _destination(address)
    special = (
        target.is_private
        or target.is_loopback
        or target.is_link_local
        or target.is_multicast
        or target.is_reserved
        or target.is_unspecified
        or (isinstance(target, ipaddress.IPv6Address) and target.is_site_local)
    )
    # Docent also refuses blocks some Python versions call global, and public metadata addresses.
    extra = {"192.0.0.0/24", "198.18.0.0/15", "168.63.129.16/32"}
    refused_anyway = any(target in ipaddress.ip_network(n) for n in extra if target.version == 4)
    assert is_forbidden_address(address) is (special or not target.is_global or refused_anyway)


@given(st.ip_addresses())
def test_allowing_private_opens_only_loopback_and_private_ranges(address: IPAddress) -> None:
    strict = is_forbidden_address(address)
    relaxed = is_forbidden_address(address, allow_private_addresses=True)
    target = _destination(address)
    if strict and not relaxed:
        assert target.is_loopback or any(target in net for net in _OPENED_BY_ALLOWING_PRIVATE)
    assert strict or not relaxed  # allowing more never forbids more
    if str(target) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16"):
        assert relaxed
