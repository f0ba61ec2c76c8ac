"""Chromium, headless, driven by Playwright: Debian's browser (Playwright's own downloads are not
reachable here), started as the project's machines allow it, with WebGL on SwiftShader. A test that
needs it skips, saying why, where no browser can be had; in CI (CI set) it fails instead, since CI
must run the browser tests. Each page records what its scripts threw and logged."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)
# Chromium's own line for a response with an error status or a refused connection: expected in the
# cases that provoke them, never written by our code.
BROWSER_NETWORK_ERRORS = ("Failed to load resource",)
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"


def chromium_path() -> Path:
    return Path(os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")


def no_browser(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("Playwright is not installed (make test installs it)")
    executable = chromium_path()
    if not executable.exists():
        no_browser(f"no Chromium at {executable}: `make test` installs it with apt-get when run as root")
    with sync_playwright() as playwright:
        # launch() gives each browser a fresh temporary profile.
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageRecord:
    """What a page's scripts threw (uncaught) and logged as errors, but for the browser's own lines."""

    uncaught: list[str] = field(default_factory=list)
    errors_logged: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith(BROWSER_NETWORK_ERRORS):
            self.errors_logged.append(message.text)

    def assert_clean(self) -> None:
        assert self.uncaught == [], f"uncaught in the page: {self.uncaught}"
        assert self.errors_logged == [], f"errors logged by the page: {self.errors_logged}"


@contextmanager
def recorded_page(
    browser: Browser, *, init_scripts: Sequence[Path | str] = ()
) -> Iterator[tuple[Page, PageRecord]]:
    """A page in a fresh context; `init_scripts` (files, or sources) run before the page's own."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    for script in init_scripts:
        if isinstance(script, Path):
            context.add_init_script(path=str(script))
        else:
            context.add_init_script(script=script)
    page = context.new_page()
    record = PageRecord()
    page.on("pageerror", lambda error: record.uncaught.append(str(error)))
    page.on("console", record.console)
    try:
        yield page, record
    finally:
        context.close()
