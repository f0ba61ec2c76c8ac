"""GET /viewer/: the 3D viewer's built files, served as a static site under the API's stage prefix,
without a key, and nothing but those files."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from functions.viewer import app as viewer
from immichvr_depth.platform.static_site import IMMUTABLE, REVALIDATE, StaticSite
from tests.support.depth import header
from tests.support.events import invoke_api

PAGE = '<!doctype html><script type="module" src="./viewer-AB12CD34.js"></script>'
SCRIPT = "console.log('three');"


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "viewer-AB12CD34.js").write_text(SCRIPT)
    (tmp_path / "licenses").mkdir()
    (tmp_path / "licenses" / "three.txt").write_text("The MIT License")
    (tmp_path / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    monkeypatch.setattr(viewer, "SITE", StaticSite(tmp_path))
    return tmp_path


def test_the_page_is_served_from_its_folder_so_its_relative_urls_resolve_under_the_stage(built: Path) -> None:
    response = invoke_api("GET", "/viewer/")

    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert response["body"] == PAGE
    assert header(response, "Cache-Control") == REVALIDATE


def test_the_folder_without_its_slash_is_sent_to_the_folder_by_a_relative_location(built: Path) -> None:
    response = invoke_api("GET", "/viewer")

    assert response["statusCode"] == 301
    assert header(response, "Location") == "viewer/"  # /v1/viewer -> /v1/viewer/: the stage is kept


def test_content_named_assets_are_cached_for_a_year_and_others_revalidated(built: Path) -> None:
    script = invoke_api("GET", "/viewer/viewer-AB12CD34.js")
    licence = invoke_api("GET", "/viewer/licenses/three.txt")

    assert (script["statusCode"], script["body"]) == (200, SCRIPT)
    assert header(script, "Content-Type") == "text/javascript; charset=utf-8"
    assert header(script, "Cache-Control") == IMMUTABLE
    assert (licence["statusCode"], header(licence, "Cache-Control")) == (200, REVALIDATE)


def test_a_browser_holding_the_file_gets_a_304(built: Path) -> None:
    etag = header(invoke_api("GET", "/viewer/"), "ETag")

    again = invoke_api("GET", "/viewer/", headers={"If-None-Match": f"W/{etag}"})

    assert (again["statusCode"], again["body"]) == (304, "")
    assert header(again, "ETag") == etag


def test_binary_files_are_base64_encoded_for_api_gateway(built: Path) -> None:
    response = invoke_api("GET", "/viewer/icon.png", headers={"Accept": "image/png"})

    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\x89PNG\r\n\x1a\n\xff\xfe"


def test_the_page_may_load_only_what_we_serve(built: Path) -> None:
    policy = header(invoke_api("GET", "/viewer/"), "Content-Security-Policy") or ""

    assert "script-src 'self'" in policy
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize(
    "path",
    ["/viewer/nothing.js", "/viewer/..%2F..%2Ftemplate.yaml", "/viewer/%2E%2E/app.py", "/viewer/licenses"],
)
def test_no_path_reaches_beyond_the_built_files(built: Path, path: str) -> None:
    response = invoke_api("GET", path)

    assert response["statusCode"] == 404
    assert "no viewer file" in response["body"]


def test_a_stack_whose_viewer_was_not_built_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viewer, "SITE", StaticSite(tmp_path / "static"))

    response = invoke_api("GET", "/viewer/")

    assert response["statusCode"] == 404
    assert "make viewer" in response["body"]


def test_a_rebuild_while_serving_is_served_without_a_restart(built: Path) -> None:
    invoke_api("GET", "/viewer/viewer-AB12CD34.js")
    (built / "viewer-AB12CD34.js").unlink()
    (built / "viewer-EF56GH78.js").write_text("console.log('rebuilt');")
    page = built / "index.html"
    page.write_text(PAGE.replace("AB12CD34", "EF56GH78"))
    os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 1_000_000))

    assert "EF56GH78" in invoke_api("GET", "/viewer/")["body"]
    assert invoke_api("GET", "/viewer/viewer-EF56GH78.js")["statusCode"] == 200
    assert invoke_api("GET", "/viewer/viewer-AB12CD34.js")["statusCode"] == 404
