"""Bodies nested far deeper than any answer of ours would be (a JSON bomb of brackets, an object nested
thousands deep) are a 400 with a JSON body on every route that reads JSON, never a 500."""

from __future__ import annotations

import json

import pytest

from functions.immich_webhook import app as webhook_api
from functions.media_api import app as media_api
from immichvr_depth.platform.settings import get_settings
from tests.support.events import api_event, lambda_context

SECRET = "nested-json-webhook-secret-0123456789"

BODIES = {
    "100,000 brackets": "[" * 100_000 + "]" * 100_000,
    "filename nested 5,000 deep": '{"filename": ' * 5_000 + '"a.jpg"' + "}" * 5_000,
    "an object nested 900 deep": '{"a": ' * 900 + "1" + "}" * 900,
}


def send(module: object, path: str, raw: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    event = api_event("POST", path, headers=headers, json_body={})
    event["body"] = raw
    response: dict[str, object] = module.lambda_handler(event, lambda_context("Function"))  # type: ignore[attr-defined]
    return response


@pytest.fixture
def webhook_secret(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("IMMICH_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    return SECRET


def assert_refused_as_json(response: dict[str, object]) -> None:
    assert response["statusCode"] == 400, response["body"]
    body = json.loads(str(response["body"]))
    assert body["success"] is False
    assert body["error"] == "invalid_request"


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_deeply_nested_upload_request_is_a_400(aws: dict[str, str], name: str) -> None:
    assert_refused_as_json(send(media_api, "/api/media/uploads", BODIES[name]))


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_deeply_nested_webhook_is_a_400(webhook_secret: str, name: str) -> None:
    headers = {"X-Immich-Webhook-Secret": webhook_secret}

    assert_refused_as_json(send(webhook_api, "/api/immich/webhook", BODIES[name], headers))
