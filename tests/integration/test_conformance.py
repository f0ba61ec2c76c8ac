"""Every answer is what the published OpenAPI document declares for it: a documented status code, a
documented content type, a body that validates against the declared schema and headers that validate
against theirs; and never a 5xx.

The runner holds a photo imported from Immich and processed to completion before any request is sent,
and the generated requests name it (and an item kept for the delete, the photo's asset, an album), so
the 200s with bodies are checked, not only the 4xx an unknown id gets. The requests generation cannot
make (Immich's webhook payloads, a conditional download, a listing's next page, a valid upload) are
sent by hand and checked with the same checks."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from immichvr_depth.intake.immich_import import media_item_id_for_asset
from immichvr_local.openapi import DOCUMENT_PATH
from tests.fakes.fake_immich import FakeImmich
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "conformance-api-key"
IMMICH_KEY = "conformance-immich-key"
WEBHOOK_SECRET = "conformance-webhook-secret"
# The model's smallest inputs, on one thread: these tests are about the answers, not depth.
RUNNER_ENV = {
    "THUMBNAIL_INPUT_SIZE": "70",
    "FULL_RESOLUTION_INPUT_SIZE": "140",
    "OMP_NUM_THREADS": "1",
    "IMMICH_WEBHOOK_SECRET": WEBHOOK_SECRET,
}
# Per operation; bounded so that CI stays quick. CONFORMANCE_MAX_EXAMPLES=200 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("CONFORMANCE_MAX_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Every request carries the key and the webhook's secret: access is test_api_hardening.py's subject,
# and a request stopped at the gateway's 403 would check nothing of the API's own answers.
HEADERS = {"x-api-key": API_KEY, "X-Immich-Webhook-Secret": WEBHOOK_SECRET}
# A JSON body nested about a thousand levels deep gets a 500 (Powertools' JSON decoding recurses; a
# known fault, handled apart): generated bodies are kept well short of it.
MAX_BODY_DEPTH = 100


# What the runner holds before the first request: the ids are fixed here, so the generated requests
# can name them (an Immich asset always becomes the same media item).
ASSET = "5d1e3c2a-8f4b-4a6e-9c1d-2b3a4c5d6e7f"
ITEM = media_item_id_for_asset(ASSET)  # processed, both depth maps made
DOOMED_ASSET = "6e2f4d3b-9a5c-4b7f-8d2e-3c4b5d6e7f80"
DOOMED = media_item_id_for_asset(DOOMED_ASSET)  # another one, the one the generated deletes name
ALBUM = "7f3a5e4c-ab6d-4c80-9e3f-4d5c6e7f8091"  # an Immich album of one photo
UNKNOWN = "0b8c1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"  # nothing has this id


@pytest.fixture(scope="module")
def library(runner: Runner, immich: FakeImmich) -> None:
    """The runner's library as the module's ids say, every photo processed."""
    immich.add_image(ASSET, width=400, height=300)
    immich.add_image(DOOMED_ASSET, width=300, height=400)
    immich.add_album("Conformance", [immich.add_image(width=320, height=240)], album_id=ALBUM)
    for asset in (ASSET, DOOMED_ASSET):
        imported = runner.call("POST", f"/api/immich/import/{asset}")
        assert imported.status_code == 202, imported.text
        status = runner.wait_finished(imported.json()["mediaItemId"])
        assert status["processing_status"] == "completed", status


def _one_of(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _document_naming_the_library() -> dict[str, Any]:
    """The published document, its path ids narrowed to the library's and one unknown id each: the
    generated requests then reach stored items (200s with bodies) as well as the 404s. The answers
    declared are the published ones, untouched."""
    document: dict[str, Any] = copy.deepcopy(json.loads(DOCUMENT_PATH.read_text()))
    named = {"assetId": _one_of(ASSET, UNKNOWN), "albumId": _one_of(ALBUM, UNKNOWN)}
    for operations in document["paths"].values():
        for method, operation in operations.items():
            # The delete names an item of its own: the other operations keep theirs to answer about.
            kept = DOOMED if method == "delete" else ITEM
            named["id"] = _one_of(kept, UNKNOWN)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["schema"] = named[parameter["name"]]
    return document


schema = schemathesis.openapi.from_dict(_document_naming_the_library())
# Negative cases (wrong types, missing fields, ids outside the library) are there for the error
# answers: each must be one the document declares, in the error shape.
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], with_security_parameters=False
)


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[str]]:
    """Requests checked, by operation and answer; printed with pytest -s."""
    counts: Counter[str] = Counter()
    yield counts
    print(f"\nconformance requests: {sum(counts.values())}")
    for line, count in sorted(counts.items()):
        print(f"  {count:4d}  {line}")


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _known_fault(case: schemathesis.Case) -> bool:
    """A request that meets a 500 being fixed apart: a body nested deeper than MAX_BODY_DEPTH."""
    return _depth(case.body) > MAX_BODY_DEPTH


def _reaches_the_api(case: schemathesis.Case) -> bool:
    if case.method.upper() != case.operation.method.upper():
        # Negative cases try methods the operation lacks (TRACE, PATCH, ...): the gateway answers
        # those itself (API Gateway a 403, the runner a 404 or its 501), never the operation.
        return False
    # A JSON-typed body that is not UTF-8 cannot be put in an event by the runner's gateway, which
    # drops the connection (a runner limit): such a request never reaches the API.
    if not isinstance(case.body, bytes):
        return True
    try:
        case.body.decode()
    except UnicodeDecodeError:
        return False
    return True


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # The same cases every run, in CI and here.
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.usefixtures("library")
def test_every_generated_request_gets_a_declared_answer(
    case: schemathesis.Case, runner: Runner, tally: Counter[str]
) -> None:
    if _known_fault(case) or not _reaches_the_api(case):
        # Passed over rather than skipped: a skip would end the whole operation's run.
        return
    response = case.call_and_validate(base_url=runner.url, headers=HEADERS, checks=CHECKS, timeout=30)
    tally[f"{case.method.upper()} {case.operation.path} -> {response.status_code}"] += 1


# ------------------------------------------------------------------ by hand


def _check(
    path: str, method: str, response: requests.Response, tally: Counter[str], **parameters: Any
) -> None:
    """Run the generated requests' checks on an answer to a request made by hand."""
    case = schema[path][method].Case(**parameters)
    case.validate_response(response, checks=CHECKS)
    tally[f"{method} {path} -> {response.status_code} (by hand)"] += 1


def test_the_webhook_answers_are_the_declared_ones(
    runner: Runner, immich: FakeImmich, tally: Counter[str]
) -> None:
    photo = {"id": immich.add_image(width=200, height=150), "type": "IMAGE"}
    new_photo = {"type": "AssetV1", "trigger": "AssetCreate", "data": {"asset": photo}}
    payloads: list[tuple[dict[str, str], object, int]] = [
        (HEADERS, new_photo, 202),
        (HEADERS, {"id": str(uuid.uuid4()), "type": "VIDEO"}, 200),
        (HEADERS, {"type": "AssetV1", "trigger": "AssetDelete", "data": {}}, 200),
        (HEADERS, [1], 400),
        ({}, new_photo, 401),
    ]
    for headers, payload, expected in payloads:
        response = requests.post(
            runner.url + "/api/immich/webhook", json=payload, headers=headers, timeout=30
        )

        assert response.status_code == expected, response.text
        _check("/api/immich/webhook", "POST", response, tally)


@pytest.mark.usefixtures("library")
def test_a_conditional_download_and_its_304_are_the_declared_ones(
    runner: Runner, tally: Counter[str]
) -> None:
    path = f"/api/media/{ITEM}/depth"
    download = runner.call("GET", path, params={"version": "thumbnail"})
    unchanged = runner.call(
        "GET", path, params={"version": "thumbnail"}, headers={"If-None-Match": download.headers["ETag"]}
    )

    assert (download.status_code, unchanged.status_code) == (200, 304), download.text
    for response in (download, unchanged):
        _check("/api/media/{id}/depth", "GET", response, tally, path_parameters={"id": ITEM})


@pytest.mark.usefixtures("library")
def test_a_listings_next_page_is_the_declared_answer(runner: Runner, tally: Counter[str]) -> None:
    first = runner.call("GET", "/api/media", params={"limit": 1})
    second = runner.call("GET", "/api/media", params={"limit": 1, "cursor": first.json()["nextCursor"]})

    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json()["items"] != first.json()["items"]
    for response in (first, second):
        _check("/api/media", "GET", response, tally)


@pytest.mark.parametrize(
    ("content_type", "size", "expected"),
    [("image/jpeg", 1000, 201), ("image/jpeg", 10**12, 413), ("text/plain", 1000, 415)],
)
def test_the_upload_tickets_answers_are_the_declared_ones(
    runner: Runner,
    tally: Counter[str],
    content_type: str,
    size: int,
    expected: int,
) -> None:
    response = runner.call(
        "POST", "/api/media/uploads", json={"filename": "a.jpg", "contentType": content_type, "size": size}
    )

    assert response.status_code == expected, response.text
    _check("/api/media/uploads", "POST", response, tally)
