"""The 3D viewer in a real browser (headless Chromium), against the local runner with the tiny model:
the key from the address, the gallery of every item, an upload and an import made through the page,
a photo rendered in 3D from its depth map (thumbnail first, then the preview), the depth strength at
work, "Enter VR" on an emulated headset, and the bad cases a person meets, each said plainly."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from immichvr_local.samples import demo_samples
from tests.fakes.fake_immich import FakeImmich
from tests.support.browser import ARTIFACTS, REPO_ROOT, PageRecord, chromium, recorded_page
from tests.support.images import jpeg_bytes
from tests.support.runner import Runner

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FilePayload, Page

pytestmark = pytest.mark.slow

API_KEY = "viewer-api-key"
IMMICH_KEY = "viewer-immich-key"
XR_EMULATION = REPO_ROOT / "viewer" / "build-test" / "xr-emulation.js"
CANVAS = "canvas#depth-canvas"
# Where the photo is placed in a headset, from the viewer's head at the session's start (metres).
XR_DISTANCE_M = 2.0
XR_WIDTH_M = 1.5
WAIT_MS = 60_000
# Records the largest texture the page hands WebGL, and, with a limit, makes the GPU report that
# MAX_TEXTURE_SIZE (the page reads it when its renderer starts).
TEXTURE_PROBE = """(limit) => {
    window.largestTexture = 0;
    const note = (...sides) => {
        for (const side of sides) {
            if (Number.isFinite(side)) window.largestTexture = Math.max(window.largestTexture, side);
        }
    };
    for (const context of [WebGLRenderingContext, WebGL2RenderingContext]) {
        const proto = context.prototype;
        const getParameter = proto.getParameter;
        proto.getParameter = function (name) {
            return limit && name === this.MAX_TEXTURE_SIZE ? limit : getParameter.call(this, name);
        };
        const texImage2D = proto.texImage2D;
        proto.texImage2D = function (...args) {
            if (args.length >= 9) note(args[3], args[4]);
            else if (args[5]) note(args[5].width, args[5].height);
            return texImage2D.apply(this, args);
        };
        if (proto.texStorage2D) {
            const texStorage2D = proto.texStorage2D;
            proto.texStorage2D = function (...args) {
                note(args[3], args[4]);
                return texStorage2D.apply(this, args);
            };
        }
    }
}"""
AFTER_TWO_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
# Drops a file on the drop zone as a person's drag and drop does.
DROP_FILE = """([name, base64]) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, {type: "image/jpeg"}));
    const zone = document.querySelector("#drop-zone");
    for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
    }
}"""
# Collects each version the canvas says it has rendered, in order.
RECORD_RENDERED_VERSIONS = """selector => {
    window.renderedVersions = [];
    new MutationObserver(() => {
        const canvas = document.querySelector(selector);
        if (canvas && canvas.dataset.state === "rendered") {
            window.renderedVersions.push(canvas.dataset.version);
        }
    }).observe(document.body, {
        subtree: true, attributes: true, attributeFilter: ["data-state", "data-version"],
    });
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


@pytest.fixture(scope="module")
def completed(runner: Runner) -> list[str]:
    """Two uploaded photos with all their depth maps, the photo of the first a scene with near and far."""
    sample = demo_samples()[0]
    made = [
        runner.upload(sample.filename, sample.data, sample.content_type),
        runner.upload("gradient.jpg", jpeg_bytes(640, 480, seed=4)),
    ]
    for media_item_id in made:
        assert runner.wait_finished(media_item_id)["processing_status"] == "completed"
    return made


@pytest.fixture(scope="module")
def failed(runner: Runner) -> dict[str, Any]:
    """An upload that is no photo at all: the ingest records it as failed, with the reason."""
    media_item_id = runner.upload("not-a-photo.jpg", b"these bytes are no JPEG")
    item = runner.wait_finished(media_item_id)
    assert item["processing_status"] == "failed"
    return item


@pytest.fixture(scope="module")
def large(runner: Runner) -> str:
    """A photo whose preview (its full-resolution map: it is under the preview's size) is 2000x1500."""
    media_item_id = runner.upload("large.jpg", jpeg_bytes(2000, 1500, seed=6))
    assert runner.wait_finished(media_item_id)["processing_status"] == "completed"
    return media_item_id


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, PageRecord]]:
    with recorded_page(browser) as opened:
        yield opened


def open_viewer(page: Page, runner: Runner, key: str = API_KEY) -> None:
    page.goto(f"{runner.url}/viewer/#key={key}")


def open_in_3d(page: Page, media_item_id: str) -> None:
    page.locator(f'[data-media-item-id="{media_item_id}"] button.open').click()
    page.wait_for_selector(f'{CANVAS}[data-state="rendered"]', timeout=WAIT_MS)


def view_in_3d(page: Page, runner: Runner, media_item_id: str) -> None:
    """The viewer opened with the key, and the item opened in 3D from its gallery card."""
    open_viewer(page, runner)
    page.wait_for_selector(f'[data-media-item-id="{media_item_id}"]', timeout=WAIT_MS)
    open_in_3d(page, media_item_id)


def canvas_pixels(page: Page) -> np.ndarray:
    shot = page.locator(CANVAS).screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)


def set_strength(page: Page, value: str) -> np.ndarray:
    """The canvas once a frame at depth strength `value` has been drawn."""
    page.fill("#depth-strength", value)
    page.wait_for_function(
        "([selector, value]) => Number(document.querySelector(selector).dataset.strength) === Number(value)",
        arg=[CANVAS, value],
        timeout=WAIT_MS,
    )
    return canvas_pixels(page)


def ended_well(page: Page, record: PageRecord) -> None:
    """What a happy path ends with: nothing thrown or logged, and no error in the notice (where the
    page also turns whatever rejection slipped through, instead of logging it)."""
    record.assert_clean()
    shown = page.locator('#notice[data-kind="error"]:not([hidden])')
    assert shown.count() == 0, shown.inner_text()


def lit_region(pixels: np.ndarray) -> np.ndarray:
    """The part of a rendering that is not the black background around the photo."""
    rows, columns = np.nonzero(pixels.max(axis=-1) > 24)
    assert rows.size, "nothing was drawn"
    return pixels[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def share_changed(before: np.ndarray, after: np.ndarray) -> float:
    """The share of pixels whose colour moved by more than compression-level noise."""
    return float((np.abs(before - after).max(axis=-1) > 12).mean())


def item_with(runner: Runner, **fields: Any) -> str | None:
    listing = runner.call("GET", "/api/media", params={"limit": 100}).json()["items"]
    found = [item for item in listing if all(item.get(name) == value for name, value in fields.items())]
    return str(found[0]["media_item_id"]) if found else None


def wait_for_item(runner: Runner, timeout_s: float = 30, **fields: Any) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (media_item_id := item_with(runner, **fields)) is not None:
            return media_item_id
        time.sleep(0.3)
    raise AssertionError(f"no item with {fields}")


# ---------------------------------------------------------------- the key and the gallery


def test_the_key_in_the_address_opens_the_gallery_of_every_item_and_leaves_the_address(
    page: tuple[Page, PageRecord], runner: Runner, completed: list[str], failed: dict[str, Any]
) -> None:
    viewer, record = page
    open_viewer(viewer, runner)

    for media_item_id in [*completed, failed["media_item_id"]]:
        viewer.wait_for_selector(f'#gallery [data-media-item-id="{media_item_id}"]', timeout=WAIT_MS)
    listed = runner.call("GET", "/api/media", params={"limit": 100}).json()["items"]
    shown = viewer.eval_on_selector_all(
        "#gallery [data-media-item-id]", "items => items.map(i => i.dataset.mediaItemId)"
    )
    assert set(shown) >= {item["media_item_id"] for item in listed}
    assert viewer.evaluate("location.hash") == ""
    assert viewer.evaluate("key => Object.values(sessionStorage).includes(key)", API_KEY)
    first = viewer.locator(f'[data-media-item-id="{completed[0]}"]')
    assert first.get_attribute("data-status") == "completed"
    first.locator("img").wait_for(timeout=WAIT_MS)
    assert first.locator("img").get_attribute("alt") == demo_samples()[0].filename
    ended_well(viewer, record)


def test_a_wrong_key_is_said_plainly_and_the_key_is_asked_again(
    page: tuple[Page, PageRecord], runner: Runner
) -> None:
    viewer, record = page
    open_viewer(viewer, runner, key="not-the-key")

    notice = viewer.locator("#notice")
    notice.filter(has_text="refused").wait_for(timeout=WAIT_MS)
    assert viewer.locator("#key-form").is_visible()
    assert viewer.locator("#gallery [data-media-item-id]").count() == 0
    record.assert_clean()


def test_an_unreachable_api_is_said_plainly(page: tuple[Page, PageRecord], runner: Runner) -> None:
    viewer, record = page
    viewer.route("**/api/**", lambda route: route.abort("connectionrefused"))
    open_viewer(viewer, runner)

    viewer.locator("#notice").filter(has_text="reach").wait_for(timeout=WAIT_MS)
    assert viewer.locator("body").inner_text().strip() != ""
    record.assert_clean()


def test_an_item_that_failed_shows_why(
    page: tuple[Page, PageRecord], runner: Runner, failed: dict[str, Any]
) -> None:
    viewer, record = page
    open_viewer(viewer, runner)

    shown = viewer.locator(f'#gallery [data-media-item-id="{failed["media_item_id"]}"]')
    shown.wait_for(timeout=WAIT_MS)
    assert shown.get_attribute("data-status") == "failed"
    assert failed["last_error"] in shown.locator(".reason").inner_text()
    record.assert_clean()


# ---------------------------------------------------------------- upload and import from the page


def test_a_photo_uploaded_through_the_page_reaches_completed(
    page: tuple[Page, PageRecord], runner: Runner
) -> None:
    viewer, record = page
    open_viewer(viewer, runner)
    viewer.wait_for_selector("#upload-input", state="attached", timeout=WAIT_MS)

    photo: FilePayload = {
        "name": "through-the-page.jpg",
        "mimeType": "image/jpeg",
        "buffer": jpeg_bytes(480, 360, seed=8),
    }
    viewer.set_input_files("#upload-input", files=[photo])

    progress = viewer.locator("progress.upload-progress").first
    progress.wait_for(timeout=WAIT_MS)
    media_item_id = wait_for_item(runner, filename="through-the-page.jpg")
    viewer.wait_for_selector(
        f'#gallery [data-media-item-id="{media_item_id}"][data-status="completed"]', timeout=120_000
    )
    assert progress.evaluate("bar => bar.value === bar.max && bar.max > 0")
    ended_well(viewer, record)


def test_an_immich_photo_is_imported_from_the_import_tab(
    page: tuple[Page, PageRecord], runner: Runner, immich: FakeImmich
) -> None:
    asset_id = immich.add_image(width=800, height=600, file_name="from-immich.jpg")
    viewer, record = page
    open_viewer(viewer, runner)

    viewer.click("#tab-import")
    asset = viewer.locator(f'#library [data-asset-id="{asset_id}"]')
    asset.wait_for(timeout=WAIT_MS)
    assert asset.get_attribute("data-import-status") == "not-imported"
    asset.locator("button.import").click()

    media_item_id = wait_for_item(runner, immich_asset_id=asset_id)
    viewer.click("#tab-gallery")
    viewer.wait_for_selector(f'#gallery [data-media-item-id="{media_item_id}"]', timeout=WAIT_MS)
    ended_well(viewer, record)


# ---------------------------------------------------------------- 3D


def test_a_photo_is_shown_in_3d_thumbnail_first_then_the_preview(
    page: tuple[Page, PageRecord], runner: Runner, completed: list[str]
) -> None:
    media_item_id = completed[1]  # the gradient: red grows from left to right
    depth = runner.call(
        "GET",
        f"/api/media/{media_item_id}/depth",
        params={"version": "preview", "format": "png8"},
        headers={"Accept": "image/png"},
    )
    assert np.ptp(np.asarray(Image.open(io.BytesIO(depth.content)))) > 0, (
        "the map must not be flat for this test"
    )
    viewer, record = page
    open_viewer(viewer, runner)
    viewer.wait_for_selector(f'[data-media-item-id="{media_item_id}"]', timeout=WAIT_MS)
    viewer.evaluate(RECORD_RENDERED_VERSIONS, CANVAS)

    open_in_3d(viewer, media_item_id)
    viewer.wait_for_selector(f'{CANVAS}[data-state="rendered"][data-version="preview"]', timeout=WAIT_MS)

    versions = viewer.evaluate("window.renderedVersions")
    assert versions[0] == "thumbnail", versions
    assert versions[-1] == "preview", versions
    flat = set_strength(viewer, "0")
    deep = set_strength(viewer, viewer.get_attribute("#depth-strength", "max") or "1")
    shallow = set_strength(viewer, str(float(viewer.get_attribute("#depth-strength", "max") or "1") / 2))
    # The flat rendering is the photo itself, on the black background: its red grows from left to right.
    photo = lit_region(flat)
    third = photo.shape[1] // 3
    assert photo[:, -third:, 0].mean() > photo[:, :third, 0].mean() + 80
    # The depth map moves the photo's pixels, and more depth moves them further.
    assert share_changed(flat, deep) > 0.02
    assert share_changed(shallow, deep) > 0.01
    # The pointer over the canvas turns the view: parallax.
    box = viewer.locator(CANVAS).bounding_box()
    assert box is not None
    viewer.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.9)
    viewer.evaluate(AFTER_TWO_FRAMES)  # the view is drawn on the frame after a change
    assert share_changed(deep, canvas_pixels(viewer)) > 0.02
    ended_well(viewer, record)


def test_versions_can_be_switched_and_downloads_are_offered(
    page: tuple[Page, PageRecord], runner: Runner, completed: list[str]
) -> None:
    viewer, record = page
    view_in_3d(viewer, runner, completed[1])

    viewer.select_option("#version", "thumbnail")
    viewer.wait_for_selector(f'{CANVAS}[data-state="rendered"][data-version="thumbnail"]', timeout=WAIT_MS)
    viewer.locator("#downloads > summary").click()
    viewer.wait_for_selector('#downloads a[data-kind="sbs"][href]', timeout=WAIT_MS)

    kinds = viewer.eval_on_selector_all(
        "#downloads a[data-kind][href]", "links => links.map(l => l.dataset.kind)"
    )
    assert {"photo", "png16", "png8", "sbs", "half-sbs", "tb", "anaglyph"} <= set(kinds)
    ended_well(viewer, record)


def test_enter_vr_places_the_photo_in_front_of_the_viewer_and_renders_frames(
    browser: Browser, runner: Runner, completed: list[str]
) -> None:
    assert XR_EMULATION.exists(), "the viewer's build makes the XR emulation script (make viewer)"
    with recorded_page(browser, init_scripts=[XR_EMULATION]) as (viewer, record):
        view_in_3d(viewer, runner, completed[0])
        button = viewer.locator("#VRButton")
        button.filter(has_text="ENTER VR").wait_for(timeout=WAIT_MS)

        button.click()

        viewer.wait_for_selector(f'{CANVAS}[data-xr-presenting="true"]', timeout=WAIT_MS)
        viewer.wait_for_function(
            "selector => Number(document.querySelector(selector).dataset.xrFrames) > 10",
            arg=CANVAS,
            timeout=WAIT_MS,
        )
        frames = int(viewer.get_attribute(CANVAS, "data-xr-frames") or 0)
        viewer.wait_for_function(
            "([selector, seen]) => Number(document.querySelector(selector).dataset.xrFrames) > seen + 10",
            arg=[CANVAS, frames],
            timeout=WAIT_MS,
        )
        assert float(viewer.get_attribute(CANVAS, "data-xr-distance") or 0) == pytest.approx(
            XR_DISTANCE_M, abs=0.05
        )
        assert float(viewer.get_attribute(CANVAS, "data-xr-width") or 0) == pytest.approx(
            XR_WIDTH_M, abs=0.05
        )
        ended_well(viewer, record)


def test_without_a_headset_the_vr_button_says_so_and_the_rest_works(
    page: tuple[Page, PageRecord], runner: Runner, completed: list[str]
) -> None:
    viewer, record = page
    view_in_3d(viewer, runner, completed[0])

    button = viewer.locator("#VRButton")
    button.filter(has_text="NOT").wait_for(timeout=WAIT_MS)
    assert viewer.get_attribute(CANVAS, "data-state") == "rendered"
    ended_well(viewer, record)


def test_a_screenshot_of_a_photo_in_3d(
    page: tuple[Page, PageRecord], runner: Runner, completed: list[str]
) -> None:
    """Kept under test-artifacts/; `make screenshot` also writes it where the README shows it."""
    viewer, record = page
    view_in_3d(viewer, runner, completed[0])
    viewer.wait_for_selector(f'{CANVAS}[data-state="rendered"][data-version="preview"]', timeout=WAIT_MS)
    viewer.mouse.move(760, 380)  # a little parallax, as a person's pointer gives

    ARTIFACTS.mkdir(exist_ok=True)
    shot = viewer.screenshot(path=str(ARTIFACTS / "viewer.png"))
    if target := os.environ.get("SCREENSHOT_TO"):
        (REPO_ROOT / target).parent.mkdir(parents=True, exist_ok=True)
        (REPO_ROOT / target).write_bytes(shot)
    assert Image.open(io.BytesIO(shot)).size == (1280, 800)
    ended_well(viewer, record)


def test_no_texture_exceeds_what_the_gpu_takes(browser: Browser, runner: Runner, large: str) -> None:
    largest = {}
    for limit in (None, 1024):
        with recorded_page(browser, init_scripts=[f"({TEXTURE_PROBE})({limit or 0})"]) as (viewer, record):
            view_in_3d(viewer, runner, large)
            viewer.wait_for_selector(
                f'{CANVAS}[data-state="rendered"][data-version="preview"]', timeout=WAIT_MS
            )
            largest[limit] = viewer.evaluate("window.largestTexture")
            ended_well(viewer, record)

    assert largest[None] == 2000  # the preview as it is, where the GPU takes it
    assert largest[1024] == 1024  # scaled down in the browser to the GPU's maximum


def test_a_photo_dropped_on_the_page_is_uploaded(page: tuple[Page, PageRecord], runner: Runner) -> None:
    viewer, record = page
    open_viewer(viewer, runner)
    viewer.wait_for_selector("#drop-zone", timeout=WAIT_MS)

    viewer.evaluate(DROP_FILE, ["dropped.jpg", base64.b64encode(jpeg_bytes(400, 300, seed=12)).decode()])

    media_item_id = wait_for_item(runner, filename="dropped.jpg")
    viewer.wait_for_selector(
        f'#gallery [data-media-item-id="{media_item_id}"][data-status="completed"]', timeout=120_000
    )
    ended_well(viewer, record)


def test_regenerate_and_delete_from_the_gallery(page: tuple[Page, PageRecord], runner: Runner) -> None:
    media_item_id = runner.upload("short-lived.jpg", jpeg_bytes(320, 240, seed=13))
    made = runner.wait_finished(media_item_id)["thumbnail_depth_map_generated_at"]
    viewer, record = page
    viewer.on("dialog", lambda dialog: dialog.accept())
    open_viewer(viewer, runner)
    card = viewer.locator(f'#gallery [data-media-item-id="{media_item_id}"]')
    card.wait_for(timeout=WAIT_MS)

    card.locator("button.regenerate").click()
    deadline = time.monotonic() + 120
    while runner.wait_finished(media_item_id)["thumbnail_depth_map_generated_at"] == made:
        assert time.monotonic() < deadline, "the regeneration was not made"
        time.sleep(0.3)
    viewer.wait_for_selector(
        f'#gallery [data-media-item-id="{media_item_id}"][data-status="completed"]', timeout=WAIT_MS
    )
    card.locator("button.delete").click()

    card.wait_for(state="detached", timeout=WAIT_MS)
    assert runner.call("GET", f"/api/media/{media_item_id}").status_code == 404
    ended_well(viewer, record)


def test_the_gallery_and_the_3d_view_work_from_the_keyboard(
    page: tuple[Page, PageRecord], runner: Runner, completed: list[str]
) -> None:
    viewer, record = page
    open_viewer(viewer, runner)
    opener = viewer.locator(f'[data-media-item-id="{completed[0]}"] button.open')
    opener.wait_for(timeout=WAIT_MS)

    opener.focus()
    viewer.keyboard.press("Enter")
    viewer.wait_for_selector(f'{CANVAS}[data-state="rendered"]', timeout=WAIT_MS)
    viewer.keyboard.press("Escape")

    viewer.wait_for_selector("#view", state="hidden", timeout=WAIT_MS)
    assert opener.evaluate("button => document.activeElement === button")
    ended_well(viewer, record)
