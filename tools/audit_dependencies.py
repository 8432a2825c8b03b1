"""Audit the installed Python packages against PyPI's vulnerability data; say plainly what was not checked.

`pip-audit` here audits nothing: the local package index has no vulnerability data, OSV cannot be reached,
and PyPI's per-version JSON is not served, yet it prints "No known vulnerabilities found". PyPI's project
JSON (`/pypi/NAME/json`) is reachable wherever packages can be installed, and its `vulnerabilities` list
(from the PyPA advisory database and OSV) is for the project's latest release. So a package whose installed
version is the latest release is checked with it; for any other version the per-version JSON is tried, and
when that is not served the package is reported as NOT checked, never as clean.

Exit status: 0 every package checked and none vulnerable; 1 known vulnerabilities; 2 nothing could be checked
(no vulnerability source reachable); 3 no vulnerabilities among the packages checked, but some could not be.

    .venv/bin/python tools/audit_dependencies.py [--index-url https://pypi.org/pypi] [--timeout 10]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import httpx

PYPI_JSON = "https://pypi.org/pypi"
_SEPARATORS = re.compile(r"[-_.]+")
LOCAL_PROJECTS = frozenset({"docent"})  # this project itself: its source is here, not on PyPI


@dataclass
class Outcome:
    name: str
    version: str
    checked: bool
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""  # why it was not checked


def installed() -> list[tuple[str, str]]:
    """(canonical name, version) of every distribution in this interpreter's environment, once each."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_SEPARATORS.sub("-", name).lower(), dist.version)  # PEP 503
    return sorted(found.items())


def check(client: httpx.Client, index_url: str, name: str, version: str) -> Outcome:
    """One package's known vulnerabilities, or why they could not be learnt."""
    try:
        project = client.get(f"{index_url}/{name}/json")
        if project.status_code == 404:
            return Outcome(name, version, False, reason="not on the index")
        project.raise_for_status()
        data = project.json()
        if data["info"]["version"] != version:
            exact = client.get(f"{index_url}/{name}/{version}/json")
            if exact.status_code != 200:
                latest = data["info"]["version"]
                reason = f"no vulnerability data for {version} (only for the latest, {latest})"
                return Outcome(name, version, False, reason=reason)
            data = exact.json()
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return Outcome(
            name, version, False, reason=f"vulnerability source unreachable ({type(exc).__name__})"
        )
    vulnerabilities = data.get("vulnerabilities")
    if not isinstance(vulnerabilities, list):
        return Outcome(name, version, False, reason="the index gives no vulnerability data")
    return Outcome(name, version, True, [v for v in vulnerabilities if not v.get("withdrawn")])


def audit(packages: Iterable[tuple[str, str]], index_url: str, timeout: float) -> list[Outcome]:
    wanted = [(n, v) for n, v in packages if n not in LOCAL_PROJECTS]
    with httpx.Client(timeout=timeout, follow_redirects=True) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda nv: check(client, index_url.rstrip("/"), *nv), wanted))


def report(outcomes: list[Outcome]) -> tuple[list[str], int]:
    """The lines to print and the exit status."""
    checked = [o for o in outcomes if o.checked]
    unchecked = [o for o in outcomes if not o.checked]
    vulnerable = [o for o in checked if o.vulnerabilities]
    lines = []
    for o in vulnerable:
        for v in o.vulnerabilities:
            fixed = ", ".join(v.get("fixed_in") or []) or "no fixed release"
            lines.append(f"VULNERABLE {o.name} {o.version}: {v.get('id')} (fixed in {fixed})")
    for o in unchecked:
        lines.append(f"NOT CHECKED {o.name} {o.version}: {o.reason}")
    total = len(outcomes)
    summary = f"{len(checked)} of {total} packages checked against PyPI's vulnerability data"
    if not checked:
        lines.append(
            f"NOTHING WAS CHECKED: {summary}. No vulnerability source was reachable; this is no audit."
        )
        return lines, 2
    if vulnerable:
        count = sum(len(o.vulnerabilities) for o in vulnerable)
        lines.append(f"{count} known vulnerabilities in {len(vulnerable)} packages; {summary}.")
        return lines, 1
    if unchecked:
        lines.append(
            f"No known vulnerabilities in the {len(checked)} packages checked, but {len(unchecked)} of "
            f"{total} could NOT be checked (listed above): the audit is incomplete."
        )
        return lines, 3
    lines.append(f"No known vulnerabilities: {summary} (all of them).")
    return lines, 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-url", default=PYPI_JSON, help="PyPI's JSON API (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args(argv)
    lines, status = report(audit(installed(), args.index_url, args.timeout))
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
