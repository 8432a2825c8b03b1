"""What a site crawl follows: links found in a page, put in one canonical form, kept or dropped by the
source's scope (same host, include and exclude patterns) and by the site's robots.txt. Pure: no I/O.

Patterns are shell-style globs (`fnmatch`: `*`, `?`, `[abc]`), matched case-sensitively against a URL's path
with its query (`/docs/intro?lang=en`); `*` also matches `/`, so `/docs/*` is everything under `/docs/`.
"""

from __future__ import annotations

import fnmatch
import urllib.robotparser
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import SplitResult, quote, urljoin, urlsplit, urlunsplit

MAX_URL_LENGTH = 2000  # what a page's URL column holds; longer links are not followed
MAX_LINKS_PER_PAGE = 5000  # the rest of a page's links are ignored
_DEFAULT_PORTS = {"http": 80, "https": 443}
_KEPT = "/:@!$&'()*+,;=-._~%?"  # characters a path or query keeps as they are; the rest are percent-encoded


def canonical_url(raw: str, base: str | None = None) -> str | None:
    """`raw` (resolved against `base`) as an absolute http(s) URL without fragment, with a lower-case scheme
    and host, no default port, a path of at least `/`, and what may not stand in a URL percent-encoded (so
    that the canonical form of a canonical URL is itself); None if it is no such URL."""
    try:
        joined = urljoin(base, raw.strip()) if base else raw.strip()
        parts = urlsplit(joined)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path, query = quote(parts.path or "/", safe=_KEPT), quote(parts.query, safe=_KEPT)
    url = urlunsplit(SplitResult(scheme, netloc, path, query, ""))
    return url if len(url) <= MAX_URL_LENGTH else None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _LinkParser(HTMLParser):
    """Collects `<a href>` values, and the `<base href>` they are relative to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if href is None:
            return
        if tag == "base" and self.base is None:
            self.base = href
        elif tag == "a" and len(self.hrefs) < MAX_LINKS_PER_PAGE:
            self.hrefs.append(href)


def extract_links(html: bytes, page_url: str) -> list[str]:
    """The canonical URLs of a page's `<a href>` links, in order, each once (at most MAX_LINKS_PER_PAGE)."""
    parser = _LinkParser()
    try:
        parser.feed(html.decode("utf-8", errors="replace"))
        parser.close()
    except AssertionError:  # html.parser's reaction to some malformed markup: keep what was found
        pass
    base = canonical_url(parser.base, page_url) if parser.base else None
    links: dict[str, None] = {}
    for href in parser.hrefs:
        url = canonical_url(href, base or page_url)
        if url is not None:
            links.setdefault(url)
    return list(links)


@dataclass(frozen=True)
class CrawlScope:
    """Which discovered URLs a source follows. The start URL itself is always fetched."""

    start_url: str
    same_host: bool = True
    include: tuple[str, ...] = ()  # if any: a URL must match one
    exclude: tuple[str, ...] = ()  # a URL matching one is dropped

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if self.same_host and origin_of(url) != origin_of(self.start_url):
            return False
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if self.include and not any(fnmatch.fnmatchcase(target, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(target, p) for p in self.exclude)

    def on_site(self, url: str) -> bool:
        """Whether a page (e.g. where a redirect ended) is on the site the source may read."""
        return not self.same_host or origin_of(url) == origin_of(self.start_url)


def parse_robots(text: str) -> urllib.robotparser.RobotFileParser:
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(text.splitlines())
    return robots


def allow_all() -> urllib.robotparser.RobotFileParser:
    """What a site without robots.txt (4xx) allows: everything."""
    return parse_robots("")


def disallow_all() -> urllib.robotparser.RobotFileParser:
    """What a site whose robots.txt cannot be read (5xx, no answer) allows: nothing (RFC 9309, 2.3.1.4)."""
    return parse_robots("User-agent: *\nDisallow: /\n")
