"""No handler reads its settings when it is imported: the environment is read when an invocation asks,
so what the template (or the runner, or a test) sets before the first invocation is what applies."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.unit.functions.test_cold_start import HANDLERS, REPO_ROOT

_PROBE = """
import importlib, os, sys
from immichvr_depth.platform import settings

def refuse(cls):
    raise AssertionError("settings read at import")

settings.Settings.from_env = classmethod(refuse)
importlib.import_module(sys.argv[1])
print("imported")
"""


@pytest.mark.parametrize("handler", HANDLERS)
def test_importing_a_handler_reads_no_setting(handler: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, handler],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("imported")


def test_the_cors_origin_is_the_one_set_when_the_request_is_answered(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.media_api import app as media_api
    from immichvr_depth.platform.settings import get_settings
    from tests.support.events import api_event, lambda_context

    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://viewer.example")
    get_settings.cache_clear()
    event = api_event("GET", "/api/media", headers={"Origin": "https://viewer.example"})

    response = media_api.lambda_handler(event, lambda_context("MediaApiFunction"))

    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    headers |= {k.lower(): v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    assert headers["access-control-allow-origin"] == "https://viewer.example"
