"""The API over real HTTP on the local runner: who gets in, and what bad input gets back.

Access: every route of template.yaml refuses a request without the right key, except the OpenAPI
document and its page. Bad input: schemathesis generates requests, valid and invalid, from the
published OpenAPI document; none may get a 5xx, and every error answer is JSON with a `message`."""

from __future__ import annotations

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

from immichvr_local.gateway import _RequestHandler
from immichvr_local.openapi import DOCUMENT_PATH
from immichvr_local.template import Route, Template
from tests.support.runner import Runner
from tests.unit.deployment.test_template import PUBLIC_ROUTES

pytestmark = pytest.mark.slow

API_KEY = "hardening-api-key-7f3a"
IMMICH_KEY = "hardening-immich-key"
ROUTES = Template.load().routes()
PUBLIC = {(route.method, route.resource) for route in ROUTES if not route.api_key_required}
PROTECTED = [route for route in ROUTES if route.api_key_required]
# Bounded so that CI stays quick; raise it locally for a longer hunt: FUZZ_MAX_EXAMPLES=500.
FUZZ_MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))


# The model's smallest inputs, on one thread: these tests are about the API, not depth.
RUNNER_ENV = {"THUMBNAIL_INPUT_SIZE": "70", "FULL_RESOLUTION_INPUT_SIZE": "140", "OMP_NUM_THREADS": "1"}


def concrete_path(route: Route) -> str:
    """The route's resource with every {parameter} filled by a UUID, as a real call would be, and a
    greedy {proxy+} by a file the viewer's build always has."""
    path = route.resource.replace("{proxy+}", "index.html")
    for name in route.pattern.groupindex:
        path = path.replace(f"{{{name}}}", str(uuid.uuid4()))
    return path


def send(runner: Runner, route: Route, headers: dict[str, str], query: str = "") -> requests.Response:
    body = {"filename": "a.jpg", "contentType": "image/jpeg", "size": 10} if route.method == "POST" else None
    return requests.request(
        route.method, runner.url + concrete_path(route) + query, headers=headers, json=body, timeout=30
    )


def route_id(route: Route) -> str:
    return f"{route.method} {route.resource}"


# ---------------------------------------------------------------- access


def test_the_runner_reads_the_same_public_routes_the_template_test_pins() -> None:
    # test_template.py checks the template (and SAM's expansion of it) requires keys everywhere
    # else; the runner must read the template the same way, or the tests below prove nothing.
    assert PUBLIC == PUBLIC_ROUTES
    assert len(PROTECTED) == 14


# Every way of presenting something other than the key, in the one place API Gateway reads it.
WRONG_KEYS = {
    "no header": {},
    "empty key": {"x-api-key": ""},
    "another key": {"x-api-key": "not-the-key"},
    "key in another case": {"x-api-key": API_KEY.upper()},
    "key with a suffix": {"x-api-key": API_KEY + "x"},
    "key's prefix": {"x-api-key": API_KEY[:-1]},
    "key as a bearer token": {"Authorization": f"Bearer {API_KEY}"},
}


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
@pytest.mark.parametrize("presented", list(WRONG_KEYS))
def test_a_protected_route_refuses_anything_but_the_key(runner: Runner, route: Route, presented: str) -> None:
    response = send(runner, route, WRONG_KEYS[presented])

    assert response.status_code == 403, response.text
    assert response.json()["message"]


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_a_key_in_the_query_string_is_not_a_key(runner: Runner, route: Route) -> None:
    # API Gateway's key source is the header; a key in a URL would end up in access logs and histories.
    response = send(runner, route, {}, query=f"?x-api-key={API_KEY}&api_key={API_KEY}")

    assert response.status_code == 403


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_a_protected_route_answers_the_key(runner: Runner, route: Route) -> None:
    response = send(runner, route, {"x-api-key": API_KEY})

    # Random ids are unknown (404) or, for the upload ticket, a valid request (201): never refused.
    assert response.status_code in {200, 201, 404}, response.text
    assert API_KEY not in response.text


def test_the_key_header_name_is_case_insensitive(runner: Runner) -> None:
    response = requests.get(runner.url + "/api/media", headers={"X-API-KEY": API_KEY}, timeout=10)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "route",
    sorted((r for r in ROUTES if not r.api_key_required and r.method == "GET"), key=route_id),
    ids=route_id,
)
def test_the_documentation_and_the_viewer_need_no_key(runner: Runner, route: Route) -> None:
    response = requests.get(runner.url + concrete_path(route), timeout=10)

    assert response.status_code == 200
    assert API_KEY not in response.text


@pytest.mark.parametrize("secret", [None, "not-the-secret"], ids=["no secret", "wrong secret"])
def test_the_immich_webhook_takes_no_key_and_refuses_what_lacks_its_secret(
    runner: Runner, secret: str | None
) -> None:
    headers = {"X-Immich-Webhook-Secret": secret} if secret else {}
    payload = {"type": "AssetV1", "trigger": "AssetCreate", "data": {"asset": {"id": str(uuid.uuid4())}}}

    response = requests.post(runner.url + "/api/immich/webhook", json=payload, headers=headers, timeout=10)

    # The gateway lets it through without a key (Immich can send only one header); the function
    # answers for the secret, in the API's JSON error shape.
    assert response.status_code == 401, response.text
    assert response.json()["success"] is False


def _preflight_cases() -> list[Any]:
    return [pytest.param(concrete_path(route), route.method, id=route_id(route)) for route in PROTECTED]


@pytest.mark.parametrize(("path", "method"), _preflight_cases())
def test_a_cors_preflight_needs_no_key_and_returns_no_data(runner: Runner, path: str, method: str) -> None:
    response = requests.options(
        runner.url + path,
        headers={"Origin": "https://vr.example", "Access-Control-Request-Method": method},
        timeout=10,
    )

    assert 200 <= response.status_code < 300, response.text
    assert response.headers["Access-Control-Allow-Origin"]
    assert not response.content


# ---------------------------------------------------------------- bad input


def test_a_json_body_that_is_not_utf8_is_refused_as_json(runner: Runner) -> None:
    body = b'{"filename": "\xff\xfe.jpg", "contentType": "image/jpeg", "size": 10}'
    response = runner.call(
        "POST", "/api/media/uploads", data=body, headers={"Content-Type": "application/json"}
    )

    assert 400 <= response.status_code < 500, response.text
    assert response.json()["success"] is False


@pytest.mark.parametrize("method", ["PATCH", "HEAD"])
def test_a_method_no_route_takes_gets_a_json_answer_not_an_html_page(runner: Runner, method: str) -> None:
    response = runner.call(method, "/api/media")

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    if method != "HEAD":
        assert "no route" in response.json()["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/xml"])
def test_a_body_that_is_not_json_is_a_415_naming_the_type(runner: Runner, content_type: str) -> None:
    # Found by the fuzzing below: Powertools raised on these bodies and the API answered 500.
    response = runner.call(
        "POST", "/api/media/uploads", data="filename=a.jpg", headers={"Content-Type": content_type}
    )

    assert response.status_code == 415, response.text
    assert response.json()["error"] == "unsupported_media_type"
    assert content_type in response.json()["message"]


# ---------------------------------------------------------------- bad input, fuzzed


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[str]]:
    """Fuzzed requests sent, by operation and answer; printed for docs/reliability.md (pytest -s)."""
    counts: Counter[str] = Counter()
    yield counts
    print(f"\nfuzzed requests: {sum(counts.values())}")
    for line, count in sorted(counts.items()):
        print(f"  {count:4d}  {line}")


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _document_with_uuid_ids() -> dict[str, Any]:
    """The published document, its path ids marked as the UUIDs the API takes (docs/api.md: a non-UUID
    id is a 400). Without the mark, valid cases would almost never name a well-formed id and the
    fuzzing would stop at the id check instead of reaching the stores and Immich."""
    document: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text())
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["schema"]["format"] = "uuid"
    return document


schema = schemathesis.openapi.from_dict(_document_with_uuid_ids())
# Negative mode sends what the document forbids (wrong types, missing fields, bad UUIDs, extra
# characters in paths): exactly the input an API must refuse cleanly.
# The key is the fixture's: access is tested above, and a fuzzed key would stop every case at the
# gateway's 403 before it reached the API.
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], with_security_parameters=False
)


@schema.parametrize()
@settings(
    max_examples=FUZZ_MAX_EXAMPLES,
    deadline=None,
    # Reproducible in CI: the same cases every run; FUZZ_MAX_EXAMPLES widens the search.
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_fuzzed_requests_get_no_5xx_and_json_errors_with_a_message(
    case: schemathesis.Case, runner: Runner, tally: Counter[str]
) -> None:
    if not hasattr(_RequestHandler, f"do_{case.method.upper()}"):
        # TRACE, HEAD and the like never reach our code: the runner's http.server answers them 501
        # itself, where API Gateway answers 403 for a method no route has. (A skip would end the
        # whole operation's run, so the case is passed over instead.)
        return
    if isinstance(case.body, bytes) and not _is_utf8(case.body):
        # A JSON-typed body that is not UTF-8: the runner's gateway cannot put it in an event and
        # drops the connection (a runner limit, reported), so such a case never reaches the API.
        return
    response = case.call(base_url=runner.url, headers={"x-api-key": API_KEY}, timeout=30)

    tally[f"{case.method.upper()} {case.operation.path} -> {response.status_code}"] += 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), response.text
        body = json.loads(response.text)
        assert isinstance(body, dict)
        assert isinstance(body.get("message"), str)
        assert body["message"]
