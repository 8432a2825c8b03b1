"""What isolating a parse costs: small files parsed in this process, and in a parse process each.

    .venv/bin/python -m bench.parse_isolation [--rounds 50]

For each small sample (PDF, DOCX, HTML, Markdown, text; tests/samples.py makes them) the same bytes are
parsed `--rounds` times in process (`parse_within_limits`) and through `ParseSandbox` (a child forked by
a parse server per document, JSON back). The first sandboxed parse, which starts the parse server and its
imports, is timed apart. Medians per document, and the difference, are printed.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

from tests.samples import make_docx, make_pdf

from docent.ingest.limits import ParseLimits, parse_within_limits
from docent.ingest.sandbox import ParseSandbox
from docent.ingest.types import ContentType
from docent.observability.logs import configure_logging

SAMPLES: list[tuple[str, ContentType, bytes]] = [
    ("pdf, 2 pages", ContentType.PDF, make_pdf(["Expense reports are due in 30 days.", "Second page."])),
    (
        "docx, 3 blocks",
        ContentType.DOCX,
        make_docx([("h1", "Travel"), ("", "Book economy class."), ("", "Keep receipts.")]),
    ),
    (
        "html, 1 kB",
        ContentType.HTML,
        b"<html><head><title>Policy</title></head><body><main><h1>Security</h1>"
        + b"<p>Passwords are rotated every 90 days.</p>" * 20
        + b"</main></body></html>",
    ),
    ("markdown, 1 kB", ContentType.MARKDOWN, b"# Handbook\n\n" + b"Laptops are replaced every year.\n" * 30),
    ("text, 1 kB", ContentType.TEXT, b"The office opens at 8 and closes at 18.\n" * 25),
]


def timed(function: object, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    configure_logging("WARNING")  # one line per parse otherwise
    limits = ParseLimits()
    sandbox = ParseSandbox(limits)
    with tempfile.TemporaryDirectory() as workdir:
        paths = []
        for index, (_, content_type, data) in enumerate(SAMPLES):
            path = Path(workdir) / f"sample-{index}"
            path.write_bytes(data)
            paths.append((content_type, path))
        start = time.perf_counter()
        sandbox.parse(*paths[0])
        print(f"first sandboxed parse (starts a parse server): {(time.perf_counter() - start) * 1000:.0f} ms")
        print(f"{'file':<16} {'in process':>12} {'sandboxed':>12} {'overhead':>10}   (median ms per doc)")
        overheads = []
        for (name, content_type, data), (_, path) in zip(SAMPLES, paths, strict=True):
            local = statistics.median(
                timed(functools.partial(parse_within_limits, content_type, data, limits), args.rounds)
            )
            isolated = statistics.median(
                timed(functools.partial(sandbox.parse, content_type, path), args.rounds)
            )
            overheads.append(isolated - local)
            print(f"{name:<16} {local:>12.2f} {isolated:>12.2f} {isolated - local:>10.2f}")
        print(f"mean overhead per document: {statistics.mean(overheads):.2f} ms")


if __name__ == "__main__":
    main()
