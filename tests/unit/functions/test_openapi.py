"""The API describes itself: a valid OpenAPI document, generated from the routes and kept in sync."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from functions.media_api import app as media_api
from immichvr_depth.intake.responses import WebhookAnswer
from immichvr_depth.platform.http import ErrorAnswer, InternalErrorAnswer
from immichvr_local.openapi import DOCUMENT_PATH, build_document, render
from immichvr_local.template import Template
from tests.support.events import api_event, lambda_context

# Pages for people, not API routes: the document itself, its viewer, and the 3D viewer's files.
PAGES = {"/api/openapi.json", "/api/docs", "/viewer", "/viewer/{proxy+}"}


def committed() -> dict[str, object]:
    document: dict[str, object] = json.loads(DOCUMENT_PATH.read_text())
    return document


def test_the_committed_document_is_what_the_routes_generate() -> None:
    assert DOCUMENT_PATH.read_text() == render(build_document()), (
        "functions/media_api/openapi.json is stale: run `.venv/bin/python -m immichvr_local.openapi`"
    )


def test_the_document_is_valid_openapi() -> None:
    validate(committed())


def test_every_route_of_the_template_is_documented_with_its_method_but_the_pages() -> None:
    documented = {
        (method.upper(), path)
        for path, operations in committed()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    routes = {
        (route.method, route.resource) for route in Template.load().routes() if route.resource not in PAGES
    }

    assert documented == routes


def test_the_document_names_the_api_key_every_route_requires_but_the_webhook_and_the_pages() -> None:
    document = committed()
    assert document["components"]["securitySchemes"]["apiKey"] == {  # type: ignore[index]
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    assert document["security"] == [{"apiKey": []}]
    keyless = {route.resource for route in Template.load().routes() if not route.api_key_required}
    assert keyless == PAGES | {"/api/immich/webhook"}


def test_the_webhook_is_documented_with_its_shared_secret_instead_of_the_key() -> None:
    document = committed()
    webhook = document["paths"]["/api/immich/webhook"]["post"]  # type: ignore[index]

    assert webhook["security"] == [{"webhookSecret": []}]
    assert document["components"]["securitySchemes"]["webhookSecret"] == {  # type: ignore[index]
        "type": "apiKey",
        "name": "X-Immich-Webhook-Secret",
        "in": "header",
    }


@pytest.mark.usefixtures("aws")
def test_the_api_serves_the_document_and_a_page_for_it() -> None:
    document = media_api.lambda_handler(api_event("GET", "/api/openapi.json"), lambda_context())
    page = media_api.lambda_handler(api_event("GET", "/api/docs"), lambda_context())

    assert document["statusCode"] == 200
    assert json.loads(document["body"]) == committed()
    assert page["statusCode"] == 200
    assert re.search(r"SwaggerUIBundle\(\{ url: \"openapi.json\"", page["body"])


def test_the_document_lists_the_answers_the_api_gives_and_not_the_default_422() -> None:
    operations = [
        (path, method, operation)
        for path, by_method in committed()["paths"].items()  # type: ignore[attr-defined]
        for method, operation in by_method.items()
    ]

    # Failed validation is a 400 here; the 422s left are the import's own (a video, a huge file) and
    # the file routes' (a stored photo no decoder reads, a RAW original say).
    assert sorted((path, method) for path, method, op in operations if "422" in op["responses"]) == [
        ("/api/immich/import/{assetId}", "post"),
        ("/api/media/{id}/depth", "get"),
        ("/api/media/{id}/photo", "get"),
        ("/api/media/{id}/stereo", "get"),
        ("/api/media/{id}/urls", "get"),
    ]
    assert "HTTPValidationError" not in json.dumps(committed())
    uploads = committed()["paths"]["/api/media/uploads"]["post"]["responses"]  # type: ignore[index]
    assert {"413", "415"} <= set(uploads)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def _responses() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (path, method, status, response)
        for path, by_method in committed()["paths"].items()  # type: ignore[attr-defined]
        for method, operation in by_method.items()
        for status, response in operation["responses"].items()
    ]


def test_every_json_answer_declares_an_object_schema_with_its_keys() -> None:
    document: dict[str, Any] = committed()
    untyped = []
    for path, method, status, response in _responses():
        for media_type, content in response.get("content", {}).items():
            if not media_type.startswith("application/json"):
                continue
            schema = _resolve(document, content.get("schema", {}))
            if schema.get("type") != "object" or not schema.get("properties") or "required" not in schema:
                untyped.append(f"{method.upper()} {path} {status}: {schema}")

    assert not untyped, "\n".join(untyped)
    assert '"title": "Return"' not in json.dumps(document)


def test_answers_without_a_body_declare_no_content_and_the_depth_map_is_a_png() -> None:
    for path, method, status, response in _responses():
        if status in {"204", "304", "307"}:
            assert "content" not in response, f"{method.upper()} {path} {status}"
        else:
            assert response.get("content"), f"{method.upper()} {path} {status} declares no body"
    depth = committed()["paths"]["/api/media/{id}/depth"]["get"]["responses"]  # type: ignore[index]
    assert list(depth["200"]["content"]) == ["image/png"]
    assert list(depth["202"]["content"]) == ["application/json"]
    assert committed()["paths"]["/api/media/{id}"]["delete"]["responses"]["204"] == {  # type: ignore[index]
        "description": "deleted, with every file and record of the item"
    }


def test_every_error_answer_is_the_error_shape_and_the_gateways_403_its_own() -> None:
    document: dict[str, Any] = committed()
    for path, method, status, response in _responses():
        if int(status) < 400:
            continue
        schema = response["content"]["application/json"]["schema"]
        expected = "GatewayRefusal" if status == "403" else "ErrorAnswer"
        assert schema == {"$ref": f"#/components/schemas/{expected}"}, f"{method.upper()} {path} {status}"
    error = document["components"]["schemas"]["ErrorAnswer"]
    assert error["required"] == ["success", "error", "message"]
    assert set(error["properties"]) == {"success", "error", "message", "details"}


def test_a_body_keeps_its_key_order_and_nulls_and_leaves_out_what_is_present_only_when_set() -> None:
    refused = ErrorAnswer(error="not_found", message="gone")
    detailed = ErrorAnswer(error="not_found", message="gone", details={"mediaItemId": "x"})
    crashed = InternalErrorAnswer(error="internal_error", message="oops", request_id=None)

    assert refused.to_json() == '{"success": false, "error": "not_found", "message": "gone"}'
    assert detailed.to_json() == (
        '{"success": false, "error": "not_found", "message": "gone", "details": {"mediaItemId": "x"}}'
    )
    assert crashed.to_json() == (
        '{"success": false, "error": "internal_error", "message": "oops", "requestId": null}'
    )
    ignored = WebhookAnswer(queued=False, ignored=True, message="not an image", asset_id="a")
    assert json.loads(ignored.to_json()) == {
        "success": True,
        "queued": False,
        "ignored": True,
        "message": "not an image",
        "assetId": "a",
    }
