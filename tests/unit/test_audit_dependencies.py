"""The dependency audit: it says plainly what it could not check and never calls an unchecked package clean.
PyPI's JSON API is played by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tools.audit_dependencies import audit, main, report

from tests.http_servers import serving, url_of

VULN = {"id": "PYSEC-2099-1", "fixed_in": ["2.1"], "withdrawn": None}
PROJECTS: dict[str, dict[str, Any]] = {
    "/pypi/alpha/json": {"info": {"version": "1.0"}, "vulnerabilities": []},
    "/pypi/beta/json": {"info": {"version": "2.0"}, "vulnerabilities": [VULN]},
    "/pypi/gamma/json": {"info": {"version": "1.0"}, "vulnerabilities": []},  # 0.9 installed, no 0.9 JSON
    "/pypi/delta/json": {"info": {"version": "3.0"}, "vulnerabilities": []},
    "/pypi/delta/2.0/json": {"info": {"version": "2.0"}, "vulnerabilities": [VULN]},
    "/pypi/mute/json": {"info": {"version": "1.0"}},  # an index that gives no vulnerability data
}


class _Index(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        body = PROJECTS.get(self.path)
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def index() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Index)) as httpd:
        yield url_of(httpd, "/pypi")


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/pypi"


def test_nothing_reachable_is_no_audit_and_never_clean() -> None:
    lines, status = report(audit([("alpha", "1.0"), ("beta", "2.0")], _closed_port_url(), timeout=2))
    assert status == 2
    assert lines[-1].startswith("NOTHING WAS CHECKED: 0 of 2 packages checked")
    assert all("unreachable" in line for line in lines[:-1])
    assert not any("no known vulnerabilities" in line.lower() for line in lines)


def test_the_whole_environment_with_no_source_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--index-url", _closed_port_url(), "--timeout", "2"]) == 2
    out = capsys.readouterr().out
    assert "NOTHING WAS CHECKED" in out and "no known vulnerabilities" not in out.lower()


def test_known_vulnerabilities_are_listed_with_their_fix(index: str) -> None:
    lines, status = report(audit([("alpha", "1.0"), ("beta", "2.0"), ("delta", "2.0")], index, timeout=5))
    assert status == 1
    assert "VULNERABLE beta 2.0: PYSEC-2099-1 (fixed in 2.1)" in lines
    assert "VULNERABLE delta 2.0: PYSEC-2099-1 (fixed in 2.1)" in lines  # from the per-version JSON
    assert (
        lines[-1]
        == "2 known vulnerabilities in 2 packages; 3 of 3 packages checked against PyPI's vulnerability data."
    )


def test_packages_without_data_are_named_and_the_audit_is_incomplete(index: str) -> None:
    packages = [("alpha", "1.0"), ("gamma", "0.9"), ("mute", "1.0"), ("unknown", "1.0"), ("docent", "0.1")]
    lines, status = report(audit(packages, index, timeout=5))
    assert status == 3
    assert lines[:3] == [
        "NOT CHECKED gamma 0.9: no vulnerability data for 0.9 (only for the latest, 1.0)",
        "NOT CHECKED mute 1.0: the index gives no vulnerability data",
        "NOT CHECKED unknown 1.0: not on the index",
    ]
    assert "1 packages checked, but 3 of 4 could NOT be checked" in lines[-1]


def test_clean_only_when_every_package_was_checked(index: str) -> None:
    lines, status = report(audit([("alpha", "1.0"), ("gamma", "1.0")], index, timeout=5))
    assert (lines, status) == (
        [
            "No known vulnerabilities: 2 of 2 packages checked against PyPI's vulnerability data "
            "(all of them)."
        ],
        0,
    )
