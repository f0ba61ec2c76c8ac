"""A refusal quotes at most a short piece of what it refuses: a 100,000-character value is not echoed
in a 100 KB answer (nor in the log line that records the refusal)."""

from __future__ import annotations

import io
import json

import pytest

from functions.immich_webhook import app as webhook_api
from functions.media_api import app as media_api
from immichvr_depth.platform.errors import ECHO_LIMIT, echoed
from immichvr_depth.platform.settings import get_settings
from tests.support.events import api_event, lambda_context

HUGE = "x" * 100_000
SECRET = "echo-webhook-secret-0123456789"


def test_a_huge_content_type_is_refused_in_a_short_answer_and_log_line(
    aws: dict[str, str], written_log: io.StringIO
) -> None:
    event = api_event(
        "POST", "/api/media/uploads", json_body={"filename": "a.jpg", "contentType": HUGE, "size": 10}
    )

    response = media_api.lambda_handler(event, lambda_context("MediaApiFunction"))

    assert response["statusCode"] == 415
    assert len(response["body"]) < 2_000
    assert f"{len(HUGE) - ECHO_LIMIT} more characters" in json.loads(response["body"])["message"]
    assert max(len(line) for line in written_log.getvalue().splitlines()) < 4_000


def test_a_huge_trigger_name_is_ignored_in_a_short_answer(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMMICH_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    payload = {"type": "AssetV1", "trigger": HUGE, "data": {"asset": {"id": "x", "type": "IMAGE"}}}
    event = api_event(
        "POST", "/api/immich/webhook", headers={"X-Immich-Webhook-Secret": SECRET}, json_body=payload
    )

    response = webhook_api.lambda_handler(event, lambda_context("ImmichWebhookFunction"))

    assert response["statusCode"] == 200
    assert len(response["body"]) < 2_000


def test_a_huge_id_in_the_path_is_refused_in_a_short_answer(aws: dict[str, str]) -> None:
    response = media_api.lambda_handler(
        api_event("GET", f"/api/media/{HUGE}"), lambda_context("MediaApiFunction")
    )

    assert response["statusCode"] == 400
    assert len(response["body"]) < 2_000


def test_short_input_is_quoted_whole_and_long_input_says_what_was_left_out() -> None:
    assert echoed("image/gif") == "'image/gif'"
    assert echoed("y" * (ECHO_LIMIT + 5)) == f"{'y' * ECHO_LIMIT!r}... (5 more characters)"
