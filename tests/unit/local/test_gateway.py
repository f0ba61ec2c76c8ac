"""The runner's API Gateway over a real socket, with scripted functions behind template.yaml's routes:
the REST proxy event each request becomes, the HTTP answer each Lambda result becomes, and the
gateway's own answers (no route, no key, a crash, the local routes)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from immichvr_local.gateway import Gateway
from immichvr_local.template import Template

KEY = "gateway-test-key"
ITEM = str(uuid.uuid4())


class ScriptedFunction:
    """Stands in for a FunctionPool: keeps the events it gets, answers `result` (or raises it)."""

    size = 2

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.result: Any = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def functions() -> dict[str, ScriptedFunction]:
    return {spec.logical_id: ScriptedFunction() for spec in Template.load().functions()}


def local_routes(method: str, path: str) -> tuple[int, dict[str, Any]]:
    return 200, {"local": [method, path]}


@pytest.fixture
def url(functions: dict[str, ScriptedFunction]) -> Iterator[str]:
    gateway = Gateway(Template.load().routes(), functions, KEY, local_routes)  # type: ignore[arg-type]
    server = gateway.serve("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def header(event: dict[str, Any], name: str) -> str | None:
    """A request header of the event, by its name in any case (HTTP's names are case-insensitive)."""
    return next((value for key, value in event["headers"].items() if key.lower() == name.lower()), None)


# ---------------------------------------------------------------- path parameters


@pytest.mark.parametrize(
    ("path", "resource", "expected"),
    [
        (f"/api/media/%7B{ITEM}%7D", "/api/media/{id}", f"{{{ITEM}}}"),
        ("/api/media/caf%C3%A9", "/api/media/{id}", "café"),
        ("/api/media/a+b", "/api/media/{id}", "a+b"),  # '+' is a space only in a query string
        # An encoded slash is part of the value: it makes no extra path segment.
        ("/api/media/a%2Fb/depth", "/api/media/{id}/depth", "a/b"),
    ],
)
def test_path_parameters_reach_the_function_decoded_as_api_gateway_decodes_them(
    url: str, functions: dict[str, ScriptedFunction], path: str, resource: str, expected: str
) -> None:
    requests.get(url + path, headers={"x-api-key": KEY}, timeout=10)

    (event,) = functions["MediaApiFunction" if not path.endswith("/depth") else "MediaFilesFunction"].events
    assert event["resource"] == resource
    assert event["pathParameters"] == {"id": expected}
    assert event["path"] == path  # the path itself stays as sent, as API Gateway's REST proxy keeps it


def test_path_parameters_are_decoded_by_the_gateways_match() -> None:
    gateway = Gateway(Template.load().routes(), {}, KEY)

    found = gateway.match("GET", "/api/media/%7Bx%7D%2F1/depth/info")

    assert found is not None
    assert (found[0].resource, found[1]) == ("/api/media/{id}/depth/info", {"id": "{x}/1"})


@pytest.mark.parametrize(
    ("path", "resource", "parameters"),
    [
        ("/viewer", "/viewer", {}),
        ("/viewer/", "/viewer", {}),  # API Gateway's REST API routes a trailing slash to the resource
        ("/api/media/", "/api/media", {}),
        ("/viewer/viewer-AB12CD34.js", "/viewer/{proxy+}", {"proxy": "viewer-AB12CD34.js"}),
        ("/viewer/licenses/three.txt", "/viewer/{proxy+}", {"proxy": "licenses/three.txt"}),
    ],
)
def test_a_greedy_resource_takes_the_rest_of_the_path_and_a_trailing_slash_reaches_its_resource(
    path: str, resource: str, parameters: dict[str, str]
) -> None:
    gateway = Gateway(Template.load().routes(), {}, KEY)

    found = gateway.match("GET", path)

    assert found is not None
    assert (found[0].resource, found[1]) == (resource, parameters)


# ---------------------------------------------------------------- the event


def test_a_request_becomes_the_rest_proxy_event(url: str, functions: dict[str, ScriptedFunction]) -> None:
    requests.post(
        url + "/api/media/uploads?a=1&a=2&b=",
        json={"filename": "x.jpg"},
        headers={"x-api-key": KEY, "User-Agent": "test-agent/1"},
        timeout=10,
    )

    (event,) = functions["MediaApiFunction"].events
    assert (event["httpMethod"], event["path"], event["resource"]) == (
        "POST",
        "/api/media/uploads",
        "/api/media/uploads",
    )
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["pathParameters"] is None
    assert (json.loads(event["body"]), event["isBase64Encoded"]) == ({"filename": "x.jpg"}, False)
    assert header(event, "content-type") == "application/json"
    assert header(event, "x-api-key") == KEY
    assert {name.lower() for name in event["multiValueHeaders"]} == {
        name.lower() for name in event["headers"]
    }
    context = event["requestContext"]
    assert (context["stage"], context["path"], context["resourcePath"]) == (
        "v1",
        "/v1/api/media/uploads",
        "/api/media/uploads",
    )
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "test-agent/1"}


def test_a_binary_body_travels_base64_encoded(url: str, functions: dict[str, ScriptedFunction]) -> None:
    body = bytes(range(256))
    requests.post(
        url + "/api/media/uploads",
        data=body,
        headers={"x-api-key": KEY, "Content-Type": "application/octet-stream"},
        timeout=10,
    )

    (event,) = functions["MediaApiFunction"].events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


# ---------------------------------------------------------------- the answer


def test_a_lambda_result_becomes_the_http_answer(url: str, functions: dict[str, ScriptedFunction]) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    functions["MediaFilesFunction"].result = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png", "ETag": '"abc"', "Content-Length": "1", "Connection": "x"},
        "multiValueHeaders": {"Vary": ["Accept", "Origin"], "ETag": ['"abc"']},
        "body": base64.b64encode(png).decode(),
        "isBase64Encoded": True,
    }

    answer = requests.get(
        url + f"/api/media/{ITEM}/depth", headers={"x-api-key": KEY, "Accept": "image/png"}, timeout=10
    )

    assert answer.status_code == 200
    assert answer.content == png
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["ETag"] == '"abc"'
    assert answer.headers["Vary"] == "Accept, Origin"
    assert answer.headers["Content-Length"] == str(len(png))  # the gateway's, never the function's


def test_head_gets_the_json_answer_without_its_body(url: str) -> None:
    answer = requests.head(url + "/api/media", headers={"x-api-key": KEY}, timeout=10)

    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert int(answer.headers["Content-Length"]) == len(
        json.dumps({"message": "no route for HEAD /api/media"})
    )
    assert answer.content == b""


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "body"),
    [
        ("GET", "/api/nothing", {"x-api-key": KEY}, 404, {"message": "no route for GET /api/nothing"}),
        ("PATCH", "/api/media", {"x-api-key": KEY}, 404, {"message": "no route for PATCH /api/media"}),
        ("GET", "/api/media", {}, 403, {"message": "Forbidden: a valid x-api-key header is required"}),
        (
            "GET",
            "/api/media",
            {"x-api-key": "nope"},
            403,
            {"message": "Forbidden: a valid x-api-key header is required"},
        ),
        ("GET", "/_local/schedules", {}, 403, {"message": "Forbidden: a valid x-api-key header is required"}),
        ("POST", "/_local/schedules/X", {"X-API-KEY": KEY}, 200, {"local": ["POST", "schedules/X"]}),
    ],
)
def test_the_gateways_own_answers(
    url: str, method: str, path: str, headers: dict[str, str], status: int, body: dict[str, Any]
) -> None:
    answer = requests.request(method, url + path, headers=headers, timeout=10)

    assert (answer.status_code, answer.headers["Content-Type"], answer.json()) == (
        status,
        "application/json",
        body,
    )


def test_a_method_api_gateway_does_not_take_is_a_501_in_json(url: str) -> None:
    answer = requests.request("TRACE", url + "/api/media", headers={"x-api-key": KEY}, timeout=10)

    assert (answer.status_code, answer.headers["Content-Type"]) == (501, "application/json")
    assert answer.json() == {"message": "Unsupported method ('TRACE')"}


def test_a_cors_preflight_reaches_the_function_without_the_key(
    url: str, functions: dict[str, ScriptedFunction]
) -> None:
    functions["MediaApiFunction"].result = {
        "statusCode": 204,
        "headers": {"Access-Control-Allow-Origin": "*"},
    }

    answer = requests.options(
        url + f"/api/media/{ITEM}", headers={"Origin": "https://vr.example"}, timeout=10
    )

    assert (answer.status_code, answer.headers["Access-Control-Allow-Origin"], answer.content) == (
        204,
        "*",
        b"",
    )
    assert functions["MediaApiFunction"].events[0]["httpMethod"] == "OPTIONS"


def test_a_function_that_crashes_is_a_502(url: str, functions: dict[str, ScriptedFunction]) -> None:
    functions["MediaApiFunction"].result = RuntimeError("boom")

    answer = requests.get(url + "/api/media", headers={"x-api-key": KEY}, timeout=10)

    assert (answer.status_code, answer.json()) == (502, {"message": "Internal server error"})
