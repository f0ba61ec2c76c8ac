"""What a browser's fetch() finally reads from an image route, against the runner (whose gateway
passes binary bodies as API Gateway does, from the template's BinaryMediaTypes, and whose embedded S3
has the template's bucket CORS).

A page at another origin calls `fetch(url, {headers: {"x-api-key": key}})`; the browser sends the
API a CORS preflight (x-api-key is no safelisted header), then the request. A 307 it follows itself:
the same method and headers, `Origin: null` (the Fetch standard's tainted origin: the redirect left
an origin that was not the page's), a preflight to S3 first, and a CORS check of every answer. The
page reads the final answer's body, and only the headers that answer's CORS exposes. Whichever way
the body comes, inline or from S3, the page must read the image's bytes and the depth map's facts:
X-Depth-Map-Version, X-Model-Name, X-Model-Version and X-Generated-At from the API, or the same
values as x-amz-meta-* headers from S3 (store/depth_maps.py: FACT_METADATA). moto's S3 answers
bucket CORS on GET and OPTIONS, so S3's own CORS headers are what is checked."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import pytest
import requests

from immichvr_depth.store.depth_maps import FACT_METADATA, metadata_header
from tests.fakes.fake_immich import FakeImmich
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "redirect-facts-api-key"
IMMICH_KEY = "redirect-facts-immich-key"
# Maps of the small photo (400 x 300) are sent inline, the large one's full resolution map (2000 x
# 1500, some MB) only by redirect.
INLINE_LIMIT = 500_000
RUNNER_ENV = {
    # The model's smallest inputs, on one thread: quick.
    "THUMBNAIL_INPUT_SIZE": "70",
    "FULL_RESOLUTION_INPUT_SIZE": "140",
    "OMP_NUM_THREADS": "1",
    "MAX_INLINE_RESPONSE_BYTES": str(INLINE_LIMIT),
}
PAGE = "https://vr.example.com"
TAINTED = "null"  # the Origin a browser sends once a redirect crossed origins
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
# Accept as clients send it: none at all, fetch()'s default, an <img>'s (Chrome), an image type.
NO_ACCEPT = None
FETCH = "*/*"
IMG = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@dataclass(frozen=True)
class Fetched:
    """A browser's fetch: the API's answer, and the answer the page reads (the same one unless the
    API redirected)."""

    api: requests.Response
    final: requests.Response

    @property
    def redirected(self) -> bool:
        return self.final is not self.api

    def readable(self, name: str) -> str | None:
        """A header of the final answer as the page's script reads it: only when CORS exposes it
        (or it is one of the few safelisted ones)."""
        exposed = {
            n.strip().lower() for n in self.final.headers.get("Access-Control-Expose-Headers", "").split(",")
        }
        safelisted = {"cache-control", "content-language", "content-length", "content-type", "expires"}
        if name.lower() not in exposed | safelisted:
            return None
        return self.final.headers.get(name)


def cors_allows(response: requests.Response, origin: str) -> bool:
    return response.headers.get("Access-Control-Allow-Origin") in ("*", origin)


def browser_fetch(
    runner: Runner, path: str, accept: str | None, params: dict[str, str] | None = None
) -> Fetched:
    """`fetch(runner.url + path, {headers: {"x-api-key": key, ...accept}})` from a page at PAGE, as a
    browser runs it; a 202 (a file being made) is retried after its Retry-After, as a client would."""
    url = runner.url + path
    preflight = requests.options(
        url,
        headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
        timeout=30,
    )
    assert preflight.ok, (preflight.status_code, preflight.text)
    assert cors_allows(preflight, PAGE), preflight.headers
    headers = {"x-api-key": API_KEY, "Accept": accept}  # None: requests sends no Accept at all
    for _ in range(30):
        api = requests.get(
            url, params=params, headers=headers | {"Origin": PAGE}, allow_redirects=False, timeout=60
        )
        if api.status_code != 202:
            break
        time.sleep(float(api.headers.get("Retry-After", "1")))
    # The browser follows a redirect only if the redirect itself passes CORS.
    assert cors_allows(api, PAGE), api.headers
    if api.status_code != 307:
        return Fetched(api, api)
    location = api.headers["Location"]
    s3_preflight = requests.options(
        location,
        headers={
            "Origin": TAINTED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
        timeout=30,
    )
    assert s3_preflight.ok, (s3_preflight.status_code, s3_preflight.text)
    assert cors_allows(s3_preflight, TAINTED), s3_preflight.headers
    final = requests.get(location, headers=headers | {"Origin": TAINTED}, allow_redirects=False, timeout=60)
    assert cors_allows(final, TAINTED), final.headers
    return Fetched(api, final)


def facts_read(fetched: Fetched) -> dict[str, str | None]:
    """The map's facts as the page reads them: the API's own headers inline, S3's x-amz-meta-* ones
    after a redirect."""
    return {
        header: fetched.readable(metadata_header(header) if fetched.redirected else header)
        for header in FACT_METADATA
    }


def facts_answered(fetched: Fetched) -> dict[str, str]:
    """The facts as the API states them, on its 200 or on its 307."""
    return {header: fetched.api.headers[header] for header in FACT_METADATA}


def imported(runner: Runner, immich: FakeImmich, width: int, height: int) -> str:
    asset_id = immich.add_image(width=width, height=height)
    answer = runner.call("POST", f"/api/immich/import/{asset_id}")
    assert answer.status_code == 202, answer.text
    item = str(answer.json()["mediaItemId"])
    status = runner.wait_finished(item)
    assert status["processing_status"] == "completed", status
    return item


@pytest.fixture(scope="module")
def large_item(runner: Runner, immich: FakeImmich) -> str:
    return imported(runner, immich, 2000, 1500)


@pytest.fixture(scope="module")
def small_item(runner: Runner, immich: FakeImmich) -> str:
    return imported(runner, immich, 400, 300)


def map_sizes(runner: Runner, item: str) -> dict[str, int]:
    info = runner.call("GET", f"/api/media/{item}/depth/info").json()
    return {entry["version_type"]: int(entry["file_size"]) for entry in info["depthMaps"]}


def assert_png_of(fetched: Fetched) -> None:
    """The page read the stored map itself: a PNG whose SHA-256 is the API's ETag."""
    final = fetched.final
    assert final.status_code == 200, (final.status_code, final.text[:300])
    assert final.content.startswith(PNG_SIGNATURE), final.content[:40]
    assert final.headers["Content-Type"] == "image/png"
    assert hashlib.sha256(final.content).hexdigest() in fetched.api.headers["ETag"]


# ---------------------------------------------------------------- a map too large to send inline


@pytest.mark.parametrize("accept", [FETCH, "image/png"], ids=["fetch", "image/png"])
def test_a_map_sent_by_redirect_reaches_the_page_with_its_facts(
    runner: Runner, large_item: str, accept: str
) -> None:
    assert map_sizes(runner, large_item)["full_resolution"] > INLINE_LIMIT, (
        "the map must be too large to inline"
    )

    fetched = browser_fetch(runner, f"/api/media/{large_item}/depth", accept, {"version": "full_resolution"})

    assert fetched.api.status_code == 307
    assert_png_of(fetched)
    assert facts_answered(fetched)["X-Depth-Map-Version"] == "full_resolution"
    assert facts_read(fetched) == facts_answered(fetched)


# ---------------------------------------------------------------- whatever the client's Accept


@pytest.mark.parametrize(
    ("accept", "inline"),
    [
        pytest.param(NO_ACCEPT, False, id="no Accept"),
        pytest.param(FETCH, False, id="fetch"),
        pytest.param(IMG, True, id="img"),
        pytest.param("image/png", True, id="image/png"),
    ],
)
@pytest.mark.parametrize("version", ["thumbnail", "full_resolution"])
def test_every_client_reads_the_map_s_bytes_and_facts_whatever_it_accepts(
    runner: Runner, small_item: str, accept: str | None, inline: bool, version: str
) -> None:
    assert map_sizes(runner, small_item)[version] <= INLINE_LIMIT, "the map must be small enough to inline"

    fetched = browser_fetch(runner, f"/api/media/{small_item}/depth", accept, {"version": version})

    # Inline only where API Gateway passes the bytes; else S3's answer, never base64 text.
    assert fetched.redirected is not inline
    assert_png_of(fetched)
    assert facts_answered(fetched)["X-Depth-Map-Version"] == version
    assert facts_read(fetched) == facts_answered(fetched)


@pytest.mark.parametrize("accept", [NO_ACCEPT, FETCH, IMG], ids=["no Accept", "fetch", "img"])
@pytest.mark.parametrize(
    ("path", "params", "signature", "has_facts"),
    [
        pytest.param("depth", {"format": "png8"}, PNG_SIGNATURE, True, id="8-bit map"),
        pytest.param("photo", {}, JPEG_SOI, False, id="photo"),
        pytest.param("stereo", {"layout": "sbs"}, JPEG_SOI, True, id="stereo"),
    ],
)
def test_every_other_image_route_gives_a_fetch_real_bytes(
    runner: Runner,
    small_item: str,
    accept: str | None,
    path: str,
    params: dict[str, str],
    signature: bytes,
    has_facts: bool,
) -> None:
    fetched = browser_fetch(runner, f"/api/media/{small_item}/{path}", accept, params)

    assert fetched.final.status_code == 200, (fetched.final.status_code, fetched.final.text[:300])
    assert fetched.final.content.startswith(signature), fetched.final.content[:40]
    if has_facts:
        assert facts_read(fetched) == facts_answered(fetched)
