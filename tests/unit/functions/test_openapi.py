"""The API describes itself: a valid OpenAPI document, generated from the routes and kept in sync."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from functions.media_api import app as media_api
from immichvr_local.openapi import DOCUMENT_PATH, build_document, render
from immichvr_local.template import Template
from tests.support.events import api_event, lambda_context


def committed() -> dict[str, object]:
    document: dict[str, object] = json.loads(DOCUMENT_PATH.read_text())
    return document


def test_the_committed_document_is_what_the_routes_generate() -> None:
    assert DOCUMENT_PATH.read_text() == render(build_document()), (
        "functions/media_api/openapi.json is stale: run `.venv/bin/python -m immichvr_local.openapi`"
    )


def test_the_document_is_valid_openapi() -> None:
    validate(committed())


def test_every_route_of_the_template_is_documented_with_its_method_but_the_docs_themselves() -> None:
    documented = {
        (method.upper(), path)
        for path, operations in committed()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    routes = {
        (route.method, route.resource)
        for route in Template.load().routes()
        if route.resource not in {"/api/openapi.json", "/api/docs"}
    }

    assert documented == routes


def test_the_document_names_the_api_key_every_route_requires_but_the_webhook() -> None:
    document = committed()
    assert document["components"]["securitySchemes"]["apiKey"] == {  # type: ignore[index]
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    assert document["security"] == [{"apiKey": []}]
    keyless = {route.resource for route in Template.load().routes() if not route.api_key_required}
    assert keyless == {"/api/openapi.json", "/api/docs", "/api/immich/webhook"}


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

    # Failed validation is a 400 here; the only 422 left is the import's own (a video, a huge file).
    assert [(path, method) for path, method, op in operations if "422" in op["responses"]] == [
        ("/api/immich/import/{assetId}", "post")
    ]
    assert "HTTPValidationError" not in json.dumps(committed())
    uploads = committed()["paths"]["/api/media/uploads"]["post"]["responses"]  # type: ignore[index]
    assert {"413", "415"} <= set(uploads)
