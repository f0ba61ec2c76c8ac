"""A fake Immich that the functions under test are pointed at, as the template points them at a real one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from immichvr_depth.platform.settings import get_settings
from tests.fakes.fake_immich import FakeImmich


@contextmanager
def immich_for_functions(
    monkeypatch: pytest.MonkeyPatch, *, version: str, api_key: str, **settings: str
) -> Iterator[FakeImmich]:
    """Serve a fake Immich of `version` that accepts `api_key`, and set IMMICH_URL, IMMICH_API_KEY and
    any other `settings` (environment variables) for the shared package to read afresh."""
    with FakeImmich(version=version, api_key=api_key) as fake:
        monkeypatch.setenv("IMMICH_URL", fake.url)
        monkeypatch.setenv("IMMICH_API_KEY", api_key)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield fake


def import_via_api(asset_id: str) -> tuple[int, dict[str, Any]]:
    """POST /api/immich/import/{asset_id} through the import function, as API Gateway invokes it."""
    from functions.immich_import import app as import_api
    from tests.support.events import api_event, lambda_context

    response = import_api.lambda_handler(
        api_event("POST", f"/api/immich/import/{asset_id}"), lambda_context("ImmichImportFunction")
    )
    return int(response["statusCode"]), json.loads(response["body"])
