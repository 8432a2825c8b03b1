"""Walking a site breadth-first: every fetch (robots.txt, pages, their redirects) goes through `UrlFetcher`,
and so through its SSRF guard, one request at a time with a polite delay between them.

The walk is bounded before it starts: `max_pages` fetches at most (failures count), `max_depth` links away
from the start, a frontier of at most `FRONTIER_PER_PAGE * max_pages` URLs, and an overall deadline.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from docent.errors import ErrorCode
from docent.ingest.crawl_rules import (
    CrawlScope,
    allow_all,
    canonical_url,
    disallow_all,
    extract_links,
    origin_of,
    parse_robots,
)
from docent.ingest.fetch import FetchedResource, FetchError, UrlFetcher
from docent.ingest.types import ContentType

FRONTIER_PER_PAGE = 10
MAX_ORIGINS = 50  # robots.txt files kept per run; links to further hosts are not followed
ROBOTS_AGENT = "Docent"


@dataclass(frozen=True)
class CrawlLimits:
    max_depth: int
    max_pages: int
    delay_seconds: float
    run_seconds: float


@dataclass(frozen=True)
class Fetched:
    url: str  # canonical, after redirects: the page's identity within its source
    resource: FetchedResource


@dataclass(frozen=True)
class Failed:
    url: str
    error: FetchError


@dataclass(frozen=True)
class Skipped:
    """Not fetched: robots.txt disallows it."""

    url: str


@dataclass(frozen=True)
class Stopped:
    """The walk ended early, and why (its deadline, or a robots.txt that could not be read)."""

    reason: str
    code: ErrorCode


Outcome = Fetched | Failed | Skipped | Stopped


class CrawlInterruptedError(Exception):
    """The worker is stopping: the walk ends at once, to be run again."""


class Crawler:
    def __init__(
        self, fetcher: UrlFetcher, scope: CrawlScope, limits: CrawlLimits, stop: threading.Event
    ) -> None:
        self._fetcher = fetcher
        self._scope = scope
        self._limits = limits
        self._stop = stop
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._last_fetch = 0.0

    def walk(self) -> Iterator[Outcome]:
        """Each page's outcome, in breadth-first order from the start URL."""
        start = canonical_url(self._scope.start_url)
        if start is None:
            yield Failed(self._scope.start_url, FetchError(ErrorCode.INVALID_URL, "the URL is malformed"))
            return
        deadline = time.monotonic() + self._limits.run_seconds
        frontier: deque[tuple[str, int]] = deque([(start, 0)])
        seen = {start}
        done: set[str] = set()
        attempts = 0
        while frontier and attempts < self._limits.max_pages:
            if time.monotonic() > deadline:
                yield Stopped("the run reached its time limit", ErrorCode.FETCH_TIMEOUT)
                return
            url, depth = frontier.popleft()
            robots = self._robots_for(url)
            if robots is None:
                yield Skipped(url)  # past MAX_ORIGINS hosts
                continue
            if not robots.can_fetch(ROBOTS_AGENT, url):
                yield Skipped(url)
                continue
            attempts += 1
            outcome = self._fetch(url)
            if isinstance(outcome, Fetched):
                if outcome.url in done:
                    continue  # a redirect to a page already read
                done.add(outcome.url)
                if depth < self._limits.max_depth and outcome.resource.content_type is ContentType.HTML:
                    self._discover(outcome, depth + 1, frontier, seen)
            yield outcome

    def _discover(self, page: Fetched, depth: int, frontier: deque[tuple[str, int]], seen: set[str]) -> None:
        bound = FRONTIER_PER_PAGE * self._limits.max_pages
        for link in extract_links(page.resource.data, page.url):
            if len(seen) >= bound:
                return
            if link not in seen and self._scope.allows(link):
                seen.add(link)
                frontier.append((link, depth))

    def _fetch(self, url: str) -> Fetched | Failed:
        self._wait_turn()
        try:
            resource = self._fetcher.fetch(url)
        except FetchError as error:
            return Failed(url, error)
        final = canonical_url(resource.url) or url
        if not self._scope.on_site(final):
            return Failed(url, FetchError(ErrorCode.URL_FORBIDDEN, "it redirects to another site"))
        return Fetched(final, resource)

    def _robots_for(self, url: str) -> urllib.robotparser.RobotFileParser | None:
        origin = origin_of(url)
        if origin not in self._robots:
            if len(self._robots) >= MAX_ORIGINS:
                return None
            self._robots[origin] = self._read_robots(origin)
        return self._robots[origin]

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser:
        """The site's rules: none when it has no robots.txt (4xx, or something else served in its place),
        everything refused when it cannot be read (RFC 9309: an unreachable robots.txt disallows all)."""
        self._wait_turn()
        try:
            fetched = self._fetcher.fetch(f"{origin}/robots.txt", plain_text=True)
        except FetchError as error:
            if error.code is ErrorCode.UNSUPPORTED_MEDIA_TYPE or (error.status and 400 <= error.status < 500):
                return allow_all()
            return disallow_all()
        if fetched.content_type is not ContentType.TEXT:
            return allow_all()
        return parse_robots(fetched.data.decode("utf-8", errors="replace"))

    def _wait_turn(self) -> None:
        """One request at a time, `delay_seconds` apart; stop at once when the worker stops."""
        wait = self._last_fetch + self._limits.delay_seconds - time.monotonic()
        if self._stop.wait(max(0.0, wait)):
            raise CrawlInterruptedError
        self._last_fetch = time.monotonic()
