"""The /api/docs page loads Swagger UI from a CDN: every file at one exact version and held to its hash,
so a changed or compromised CDN file is refused by the browser instead of run."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

DOCS_PAGE = Path(__file__).resolve().parents[3] / "functions" / "media_api" / "docs.html"


class ExternalResources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        url = named.get("src") if tag == "script" else named.get("href") if tag == "link" else None
        if url and url.startswith(("http://", "https://", "//")):
            self.found.append({"tag": tag, "url": url, **named})


def external_resources() -> list[dict[str, str | None]]:
    parser = ExternalResources()
    parser.feed(DOCS_PAGE.read_text())
    return parser.found


def test_the_page_loads_swagger_ui_from_outside() -> None:
    assert {resource["tag"] for resource in external_resources()} == {"script", "link"}


def test_every_file_from_outside_is_pinned_to_one_version_and_its_hash() -> None:
    for resource in external_resources():
        url = resource["url"] or ""
        assert url.startswith("https://"), url
        assert re.search(r"@\d+\.\d+\.\d+/", url), f"{url} names no exact version"
        assert re.fullmatch(r"sha384-[A-Za-z0-9+/]{64}", resource.get("integrity") or ""), url
        assert resource.get("crossorigin") == "anonymous", url
