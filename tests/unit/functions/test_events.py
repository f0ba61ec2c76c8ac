"""The sample events in events/ (for `sam local invoke -e` and the docs) have the shapes AWS sends.

Each one is read with the Powertools data class its handler reads it with, and checked against
template.yaml (the route it exercises exists) and the layer's own parsers (message and key scheme).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEvent,
    EventBridgeEvent,
    S3Event,
    SQSEvent,
)
from cfnlint.decode import decode_str

from immichvr_depth.depth.async_inference import Notification, parse_inference_id, parse_s3_uri
from immichvr_depth.intake.import_queue import ImportMessage
from immichvr_depth.intake.webhook import IMPORT_TRIGGER, SECRET_HEADER, WebhookAsset, read_payload
from immichvr_depth.store import keys
from immichvr_depth.store.processing_queue import ProcessingMessage
from immichvr_depth.store.versions import VersionType

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"

# Sample API events: the route each one calls, as template.yaml declares it.
API_EVENTS = {
    "immich_import.json": ("POST", "/api/immich/import/{assetId}"),
    "media_list.json": ("GET", "/api/media"),
    "media_get.json": ("GET", "/api/media/{id}"),
    "depth_get.json": ("GET", "/api/media/{id}/depth"),
    "depth_info.json": ("GET", "/api/media/{id}/depth/info"),
    "upload_presign.json": ("POST", "/api/media/uploads"),
    "immich_album_import.json": ("POST", "/api/immich/import/album/{albumId}"),
    "immich_webhook.json": ("POST", "/api/immich/webhook"),
    "depth_regenerate.json": ("POST", "/api/media/{id}/depth/regenerate"),
    "media_delete.json": ("DELETE", "/api/media/{id}"),
    "photo_get.json": ("GET", "/api/media/{id}/photo"),
    "stereo_get.json": ("GET", "/api/media/{id}/stereo"),
    "urls_get.json": ("GET", "/api/media/{id}/urls"),
    "health.json": ("GET", "/api/health"),
    "immich_assets.json": ("GET", "/api/immich/assets"),
    "viewer_page.json": ("GET", "/viewer"),
}
# Routes called without an API key: Immich's, with its shared secret instead, and the viewer's page.
KEYLESS_API_EVENTS = {"immich_webhook.json", "viewer_page.json"}
SQS_EVENTS = {
    "depth_processor_sqs.json": "DepthProcessorFunction",
    "immich_import_worker_sqs.json": "ImmichImportWorkerFunction",
    "inference_completion_sqs.json": "InferenceCompletionFunction",
}
S3_EVENTS = {"upload_ingest_s3.json": "UploadIngestFunction"}
SCHEDULE_EVENTS = {
    "immich_sync_schedule.json": "ImmichSyncFunction",
    "depth_eviction_schedule.json": "DepthEvictionFunction",
}


def load(name: str) -> dict[str, Any]:
    data = json.loads((EVENTS / name).read_text())
    assert isinstance(data, dict)
    return data


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


@pytest.fixture(scope="module")
def template_functions() -> dict[str, Any]:
    template, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems, problems
    return {
        name: res for name, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"
    }


def event_types_by_function(functions: dict[str, Any]) -> dict[str, set[str]]:
    return {
        name: {event["Type"] for event in fn["Properties"].get("Events", {}).values()}
        for name, fn in functions.items()
    }


def test_every_event_file_is_specified_here() -> None:
    on_disk = {path.name for path in EVENTS.glob("*.json")}
    assert on_disk == set(API_EVENTS) | set(SQS_EVENTS) | set(S3_EVENTS) | set(SCHEDULE_EVENTS)


def test_every_function_has_a_sample_event(template_functions: dict[str, Any]) -> None:
    routes = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"]): name
        for name, fn in template_functions.items()
        for event in fn["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    }
    covered = (
        {routes[route] for route in API_EVENTS.values()}
        | set(SQS_EVENTS.values())
        | set(S3_EVENTS.values())
        | set(SCHEDULE_EVENTS.values())
    )
    assert covered == set(template_functions)
    types = event_types_by_function(template_functions)
    assert all("SQS" in types[fn] for fn in SQS_EVENTS.values())
    assert all("S3" in types[fn] for fn in S3_EVENTS.values())
    assert all("Schedule" in types[fn] for fn in SCHEDULE_EVENTS.values())


# ---------------------------------------------------------------- API Gateway (REST, proxy)


@pytest.mark.parametrize("name", sorted(API_EVENTS))
def test_api_event_is_a_rest_proxy_event_for_a_declared_route(
    name: str, template_functions: dict[str, Any]
) -> None:
    method, resource = API_EVENTS[name]
    event = APIGatewayProxyEvent(load(name))
    declared = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for fn in template_functions.values()
        for e in fn["Properties"].get("Events", {}).values()
        if e["Type"] == "Api"
    }
    assert (method, resource) in declared
    assert event.http_method == method
    assert event.resource == resource
    assert event.request_context.resource_path == resource
    assert event.request_context.http_method == method
    assert event.request_context.stage == "v1"
    assert event.request_context.path == f"/v1{event.path}"
    assert event.request_context.request_id
    if name in KEYLESS_API_EVENTS:
        assert event.headers.get("x-api-key") is None
        if event.resource == "/api/immich/webhook":
            assert event.headers.get(SECRET_HEADER), "Immich sends its shared secret instead"
    else:
        assert event.headers.get("x-api-key"), "the API requires a key"
    assert event.request_context.identity.api_key == event.headers.get("x-api-key")


@pytest.mark.parametrize("name", sorted(API_EVENTS))
def test_api_event_path_is_its_resource_with_the_path_parameters_filled_in(name: str) -> None:
    event = APIGatewayProxyEvent(load(name))
    params = event.path_parameters or {}
    expected = event.resource
    for key, value in params.items():
        assert "{" + key + "}" in event.resource
        assert is_uuid(value), f"{key} should be a UUID like the API's ids"
        expected = expected.replace("{" + key + "}", value)
    # A trailing slash reaches the resource without it (the viewer's page is /viewer/).
    assert event.path in {expected, expected + "/"}
    assert "{" not in expected, "every path parameter has a value"


def test_depth_download_asks_for_a_version_as_png() -> None:
    event = APIGatewayProxyEvent(load("depth_get.json"))
    version = (event.query_string_parameters or {})["version"]
    assert VersionType(version) is VersionType.THUMBNAIL
    assert event.multi_value_query_string_parameters == {"version": [version]}
    assert event.headers.get("accept") == "image/png"


def test_upload_presign_body_names_the_file_its_type_and_size() -> None:
    event = APIGatewayProxyEvent(load("upload_presign.json"))
    assert event.headers.get("content-type") == "application/json"
    assert event.json_body == {"filename": "IMG_0001.jpg", "contentType": "image/jpeg", "size": 3500000}


# ---------------------------------------------------------------- SQS


def test_webhook_event_carries_immichs_asset_create_payload_as_json() -> None:
    event = APIGatewayProxyEvent(load("immich_webhook.json"))
    assert event.headers.get("content-type") == "application/json"
    asset = read_payload(event.json_body)
    assert isinstance(asset, WebhookAsset)
    assert (asset.type, asset.trigger) == ("IMAGE", IMPORT_TRIGGER)
    assert is_uuid(asset.id)


def test_import_worker_event_is_a_batch_of_import_messages() -> None:
    records = list(SQSEvent(load("immich_import_worker_sqs.json")).records)
    assert len(records) >= 2, "a batch, so partial failure reporting can be tried"
    for record in records:
        message = ImportMessage.from_json(record.body)
        assert is_uuid(message.asset_id)
        assert record.event_source_arn.startswith("arn:aws:sqs:")
        assert int(record.attributes.approximate_receive_count) >= 1
    # A redelivery, whose receive count sets how long a retry is postponed.
    assert max(int(record.attributes.approximate_receive_count) for record in records) > 1


def test_completion_event_carries_sagemakers_notifications_raw() -> None:
    records = list(SQSEvent(load("inference_completion_sqs.json")).records)
    notifications = [Notification.from_json(record.body) for record in records]
    assert [n.status for n in notifications] == ["Completed", "Failed"], "one success, one error"
    for record, notification in zip(records, notifications, strict=True):
        # Raw delivery: the body is the notification itself, not an SNS envelope.
        assert "Type" not in json.loads(record.body)
        named = parse_inference_id(notification.inference_id)
        assert named is not None
        assert is_uuid(named[0])
        _, input_key = parse_s3_uri(notification.input_location)
        assert input_key.startswith(f"{keys.ASYNC_INPUT_PREFIX}{named[0]}/{named[1].value}-")
        assert notification.latency_ms is not None
        assert notification.latency_ms > 0
    success, failure = notifications
    assert success.output_location is not None
    assert parse_s3_uri(success.output_location)[1].startswith(keys.ASYNC_OUTPUT_PREFIX)
    assert failure.failure_location is not None
    assert parse_s3_uri(failure.failure_location)[1].startswith(keys.ASYNC_FAILURES_PREFIX)
    assert failure.model_status == 400


# ---------------------------------------------------------------- EventBridge schedules


@pytest.mark.parametrize("name", sorted(SCHEDULE_EVENTS))
def test_schedule_event_is_an_eventbridge_scheduled_event(name: str) -> None:
    event = EventBridgeEvent(load(name))
    assert (event.source, event.detail_type, event.detail) == ("aws.events", "Scheduled Event", {})
    (rule,) = event.resources
    assert rule.startswith(f"arn:aws:events:{event.region}:{event.account}:rule/")


def test_processor_event_is_a_batch_of_processing_messages() -> None:
    event = SQSEvent(load("depth_processor_sqs.json"))
    records = list(event.records)
    assert len(records) >= 2, "a batch, so partial failure reporting can be tried"
    assert len({record.message_id for record in records}) == len(records)
    for record in records:
        message = ProcessingMessage.from_json(record.body)
        assert is_uuid(message.media_item_id)
        assert record.event_source == "aws:sqs"
        assert record.event_source_arn.startswith("arn:aws:sqs:")
        assert int(record.attributes.approximate_receive_count) >= 1
        assert record.attributes.sent_timestamp.isdigit()


# ---------------------------------------------------------------- S3


def test_ingest_event_is_an_object_created_under_the_upload_prefix() -> None:
    raw = load("upload_ingest_s3.json")
    event = S3Event(raw)
    (record,) = list(event.records)
    assert record.event_source == "aws:s3"
    assert record.event_name.startswith("ObjectCreated:")
    key = record.s3.get_object.key  # Powertools decodes the key as S3 encodes it
    assert key.startswith(keys.UPLOADS_PREFIX)
    media_item_id = keys.media_item_id_from_upload_key(key)
    assert media_item_id is not None
    assert is_uuid(media_item_id)
    assert key == keys.upload_key(media_item_id, "IMG_0001.jpg", "image/jpeg")
    # S3 sends keys URL-encoded the way a form is (a space becomes "+").
    assert raw["Records"][0]["s3"]["object"]["key"] == quote_plus(key, safe="/")
    assert record.s3.get_object.size > 0
    assert record.s3.bucket.name.startswith("immichvr-depth-")


def test_the_viewer_event_asks_for_the_page_as_a_browser_does() -> None:
    event = APIGatewayProxyEvent(load("viewer_page.json"))
    assert event.path == "/viewer/"
    assert (event.headers.get("accept") or "").startswith("text/html")
