"""POST /api/immich/webhook, with the payload Immich 3's "Trigger Webhook" workflow action sends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from functions.immich_webhook import app as webhook_api
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from tests.fakes.fake_immich import FakeAsset, asset_json, make_photo
from tests.support.events import api_event, lambda_context

SECRET = "webhook-shared-secret-0123456789"
HEADER = "X-Immich-Webhook-Secret"


@pytest.fixture(autouse=True)
def no_cached_parameters() -> None:
    # Powertools caches parameters per process; each test sets up its own.
    parameters.clear_caches()


@pytest.fixture
def webhook(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMMICH_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()


def immich_asset(asset_type: str = "IMAGE") -> dict[str, Any]:
    """An asset as Immich 3 describes it (its AssetResponseDto), the ``data.asset`` of the payload."""
    asset = FakeAsset(
        id=str(uuid.uuid4()),
        original=make_photo(64, 48),
        original_mime_type="image/jpeg" if asset_type == "IMAGE" else "video/mp4",
        original_file_name="IMG_0001.jpg" if asset_type == "IMAGE" else "VID_0001.mp4",
        type=asset_type,
        width=64,
        height=48,
    )
    return asset_json(asset, "3.1.0")


def envelope(asset: dict[str, Any], trigger: str = "AssetCreate") -> dict[str, Any]:
    return {"type": "AssetV1", "trigger": trigger, "data": {"asset": asset}}


def post(
    body: Any, headers: dict[str, str] | None = None, raw: str | None = None
) -> tuple[int, dict[str, Any]]:
    """POST the body as Immich does: JSON, Content-Type application/json, the one configured header."""
    event = api_event("POST", "/api/immich/webhook", headers=headers, json_body=body)
    if raw is not None:
        event["body"] = raw
    response = webhook_api.lambda_handler(event, lambda_context("ImmichWebhookFunction"))
    return response["statusCode"], json.loads(response["body"])


def queued_imports() -> list[dict[str, Any]]:
    messages = aws.sqs().receive_message(
        QueueUrl=get_settings().import_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


def test_a_new_photo_with_the_right_secret_is_queued_for_import(webhook: None) -> None:
    asset = immich_asset()

    status, body = post(envelope(asset), {HEADER: SECRET})

    assert status == 202
    assert body["queued"] is True
    assert body["assetId"] == asset["id"]
    assert queued_imports() == [{"assetId": asset["id"], "source": "webhook"}]


def test_the_secret_header_name_is_case_insensitive(webhook: None) -> None:
    status, _ = post(envelope(immich_asset()), {HEADER.lower(): SECRET})

    assert status == 202


@pytest.mark.parametrize("headers", [{}, {HEADER: "wrong"}, {HEADER: SECRET[:-1]}, {"x-api-key": SECRET}])
def test_a_missing_or_wrong_secret_is_a_json_401_and_queues_nothing(
    webhook: None, headers: dict[str, str]
) -> None:
    status, body = post(envelope(immich_asset()), headers)

    assert status == 401
    assert body["success"] is False
    assert body["error"] == "unauthorized"
    assert SECRET not in json.dumps(body)
    assert queued_imports() == []


def test_the_secret_is_checked_before_the_body_is_read(webhook: None) -> None:
    status, _ = post(None, {HEADER: "wrong"}, raw="{not json")

    assert status == 401


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (envelope(immich_asset(), trigger="AssetMetadataExtraction"), "AssetMetadataExtraction"),
        (envelope(immich_asset("VIDEO")), "video"),
        ({"type": "AlbumV9", "trigger": "AssetCreate", "data": {"asset": immich_asset()}}, "AlbumV9"),
        (envelope(immich_asset() | {"isTrashed": True}), "trash"),
    ],
)
def test_another_trigger_or_a_non_image_is_acknowledged_and_ignored(
    webhook: None, payload: dict[str, Any], reason: str
) -> None:
    status, body = post(payload, {HEADER: SECRET})

    assert status == 200
    assert (body["success"], body["queued"], body["ignored"]) == (True, False, True)
    assert reason in body["message"]
    assert queued_imports() == []


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        json.dumps(["AssetCreate"]),
        json.dumps({"type": "AssetV1", "trigger": "AssetCreate", "data": {}}),
        json.dumps(
            {"type": "AssetV1", "trigger": "AssetCreate", "data": {"asset": {"id": "42", "type": "IMAGE"}}}
        ),
        json.dumps(
            {"type": "AssetV1", "trigger": "AssetCreate", "data": {"asset": {"id": str(uuid.uuid4())}}}
        ),
        json.dumps({"trigger": 7, "data": {"asset": {}}}),
    ],
)
def test_a_malformed_payload_is_a_400(webhook: None, raw: str) -> None:
    status, body = post(None, {HEADER: SECRET}, raw=raw)

    assert status == 400
    assert body["error"] == "invalid_request"
    assert queued_imports() == []


def test_the_bare_asset_some_plugin_builds_post_is_queued_too(webhook: None) -> None:
    asset = immich_asset()

    status, body = post(asset, {HEADER: SECRET})

    assert (status, body["assetId"]) == (202, asset["id"])
    assert queued_imports() == [{"assetId": asset["id"], "source": "webhook"}]


def test_deployed_the_secret_comes_from_the_ssm_secure_string(aws: dict[str, str]) -> None:
    # The template's parameter name, as the function's environment carries it.
    name = aws["IMMICH_WEBHOOK_SECRET_PARAMETER"]
    boto3.client("ssm").put_parameter(Name=name, Value=SECRET, Type="SecureString")

    assert post(envelope(immich_asset()), {HEADER: SECRET})[0] == 202
    assert post(envelope(immich_asset()), {HEADER: "wrong"})[0] == 401


def test_without_a_secret_configured_nothing_gets_in(aws: dict[str, str]) -> None:
    # The SSM parameter was never created: the function refuses, it never accepts an empty secret.
    status, body = post(envelope(immich_asset()), {HEADER: ""})

    assert status == 500
    assert body["error"] == "webhook_not_configured"
    assert queued_imports() == []
