"""The pure rules of a site crawl: canonical URLs, links found in a page, the scope, robots.txt."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from docent.ingest.crawl_rules import (
    MAX_LINKS_PER_PAGE,
    CrawlScope,
    allow_all,
    canonical_url,
    disallow_all,
    extract_links,
    parse_robots,
)


def test_canonical_urls() -> None:
    assert canonical_url("HTTP://Example.COM") == "http://example.com/"
    assert canonical_url("https://example.com:443/a?b=1#frag") == "https://example.com/a?b=1"
    assert canonical_url("http://example.com:8080/a") == "http://example.com:8080/a"
    assert canonical_url("../c", "http://example.com/a/b/") == "http://example.com/a/c"
    assert canonical_url("http://[::1]:81/") == "http://[::1]:81/"
    refused = ["mailto:a@example.com", "javascript:alert(1)", "ftp://example.com/", "not a url"]
    refused += ["http://user:pw@example.com/", "http://example.com:99999/", "http:///nohost"]
    for refused_url in refused:
        assert canonical_url(refused_url) is None, refused_url
    assert canonical_url("http://example.com/" + "a" * 2000) is None


@given(st.text(max_size=200))
def test_canonical_urls_never_raise_and_are_stable(raw: str) -> None:
    url = canonical_url(raw, "http://example.com/dir/page")
    assert url is None or (canonical_url(url) == url and "#" not in url)


def test_links_are_the_anchors_of_a_page_each_once() -> None:
    html = (
        b'<html><head><base href="/docs/"></head><body><a href="intro">x</a><a href="intro#part">y</a>'
        b'<a href="https://other.example/">z</a><a>no href</a><link href="/style.css">'
        b'<a href="mailto:x@example.com">m</a><img src="/img.png"></body></html>'
    )
    assert extract_links(html, "http://example.com/index.html") == [
        "http://example.com/docs/intro",
        "https://other.example/",
    ]
    many = b"".join(b'<a href="/p%d">p</a>' % i for i in range(MAX_LINKS_PER_PAGE + 100))
    assert len(extract_links(many, "http://example.com/")) == MAX_LINKS_PER_PAGE
    assert extract_links(b"<a href='/x'>\xff\xfe<<<<", "http://example.com/") == ["http://example.com/x"]


def test_scope_keeps_the_host_and_the_patterns() -> None:
    scope = CrawlScope("http://example.com/", include=("/docs/*",), exclude=("*/draft*", "*?print=*"))
    assert scope.allows("http://example.com/docs/a/b")
    assert not scope.allows("http://example.com/blog/a")
    assert not scope.allows("http://example.com/docs/draft-1")
    assert not scope.allows("http://example.com/docs/a?print=1")
    assert not scope.allows("http://example.com:8080/docs/a")  # another port is another site
    assert not scope.allows("https://example.com/docs/a")
    assert scope.on_site("http://example.com/anything") and not scope.on_site("http://other.example/")
    anywhere = CrawlScope("http://example.com/", same_host=False)
    assert anywhere.allows("http://other.example/x") and anywhere.on_site("http://other.example/x")


def test_robots_rules() -> None:
    robots = parse_robots("User-agent: *\nDisallow: /private/\n\nUser-agent: Docent\nDisallow: /no-docent\n")
    assert robots.can_fetch("Docent", "http://example.com/public")
    assert not robots.can_fetch("Docent", "http://example.com/no-docent")
    assert robots.can_fetch("Docent", "http://example.com/private/x")  # its own group replaces `*`
    assert not parse_robots("User-agent: *\nDisallow: /private/\n").can_fetch(
        "Docent", "http://e.com/private/"
    )
    assert allow_all().can_fetch("Docent", "http://example.com/x")
    assert not disallow_all().can_fetch("Docent", "http://example.com/")
