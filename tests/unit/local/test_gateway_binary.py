"""The runner's API Gateway passes binary payloads as API Gateway's REST API does, from the API's
BinaryMediaTypes in template.yaml: a function's base64 body reaches the client as bytes only when the
request's first Accept type is listed (else as the base64 text, under the function's own headers),
and a request body whose Content-Type is listed reaches the function base64-encoded."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import requests

from immichvr_local.gateway import Gateway
from immichvr_local.template import Template

KEY = "gateway-binary-test-key"
ITEM = str(uuid.uuid4())
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
# What browsers send: fetch() by default, and an <img> (Chrome's, Firefox's differs only after */*).
FETCH_ACCEPT = "*/*"
IMG_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


class ScriptedFunction:
    """Stands in for a FunctionPool: keeps the events it gets and answers `result`."""

    size = 2

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.result: dict[str, Any] = {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": "{}",
        }

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return self.result


def owner(method: str, resource: str) -> str:
    """The function the template gives a route."""
    return next(r.function for r in Template.load().routes() if (r.method, r.resource) == (method, resource))


@pytest.fixture
def functions() -> dict[str, ScriptedFunction]:
    return {spec.logical_id: ScriptedFunction() for spec in Template.load().functions()}


@pytest.fixture
def images(functions: dict[str, ScriptedFunction]) -> ScriptedFunction:
    """The function behind GET /api/media/{id}/depth."""
    return functions[owner("GET", "/api/media/{id}/depth")]


@pytest.fixture
def uploads(functions: dict[str, ScriptedFunction]) -> ScriptedFunction:
    """The function behind POST /api/media/uploads."""
    return functions[owner("POST", "/api/media/uploads")]


Serve = Callable[..., str]


@pytest.fixture
def serve(functions: dict[str, ScriptedFunction]) -> Iterator[Serve]:
    """Starts a gateway with the template's routes, answered by `functions`, and the binary media
    types given (None: the template's); returns its URL."""
    servers: list[Any] = []

    def start(binary_media_types: Sequence[str] | None = None) -> str:
        gateway = Gateway(
            Template.load().routes(),
            functions,  # type: ignore[arg-type]
            KEY,
            binary_media_types=binary_media_types,
        )
        server = gateway.serve("127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def png_result(body: bytes = PNG) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png", "ETag": '"abc"'},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def get_depth(url: str, accept: str | None) -> requests.Response:
    # requests sends Accept: */* unless told otherwise; None leaves the header out altogether.
    headers = {"x-api-key": KEY, "Accept": accept}
    return requests.get(f"{url}/api/media/{ITEM}/depth", headers=headers, timeout=10)


# ---------------------------------------------------------------- a function's binary answer


@pytest.mark.parametrize(
    ("accept", "as_bytes"),
    [
        pytest.param(None, False, id="no Accept"),
        pytest.param(FETCH_ACCEPT, False, id="fetch: */*"),
        pytest.param("image/avif,image/webp,*/*", True, id="img: image/avif first, covered by image/*"),
        pytest.param(IMG_ACCEPT, True, id="img: Chrome's"),
        pytest.param("image/png", True, id="image/png"),
        pytest.param("image/jpeg", True, id="image/jpeg"),
        pytest.param("image/png, */*;q=0.1", True, id="image/png first"),
        pytest.param("application/json, image/png", False, id="image/png only second"),
        pytest.param("*/*;q=0.1, image/png", False, id="*/* first, whatever the q-values"),
    ],
)
def test_a_base64_body_is_bytes_only_for_an_accept_whose_first_type_is_binary(
    serve: Serve, images: ScriptedFunction, accept: str | None, as_bytes: bool
) -> None:
    images.result = png_result()

    answer = get_depth(serve(), accept)

    assert answer.status_code == 200
    assert answer.content == (PNG if as_bytes else base64.b64encode(PNG))
    # Bytes or text, the function's headers go out as it set them, Content-Type included.
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["ETag"] == '"abc"'
    assert answer.headers["Content-Length"] == str(len(answer.content))


def test_the_template_s_list_is_what_decides(serve: Serve, images: ScriptedFunction) -> None:
    images.result = png_result()

    only_png = serve(["image/png"])
    everything = serve(["*/*"])

    # Without image/* an <img> gets text; with */* even a fetch gets bytes.
    assert get_depth(only_png, IMG_ACCEPT).content == base64.b64encode(PNG)
    assert get_depth(only_png, "image/png").content == PNG
    assert get_depth(everything, FETCH_ACCEPT).content == PNG


@pytest.mark.parametrize("accept", [None, FETCH_ACCEPT, "image/png"])
def test_a_text_body_is_sent_as_it_is_whatever_the_accept(
    serve: Serve, images: ScriptedFunction, accept: str | None
) -> None:
    images.result = {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json"},
        "body": '{"error": "not_found"}',
        "isBase64Encoded": False,
    }

    answer = get_depth(serve(), accept)

    assert (answer.status_code, answer.content) == (404, b'{"error": "not_found"}')


@pytest.mark.parametrize("body", ["abc", "èé+à)("], ids=["bad padding", "not ASCII"])
def test_a_body_that_is_not_base64_is_a_500_when_it_would_be_decoded(
    serve: Serve, images: ScriptedFunction, body: str
) -> None:
    images.result = png_result() | {"body": body}

    answer = get_depth(serve(), "image/png")

    assert answer.status_code == 500
    assert answer.json() == {"message": "Internal server error"}


# ---------------------------------------------------------------- a request's body


def post_upload(url: str, body: bytes, content_type: str) -> None:
    requests.post(
        f"{url}/api/media/uploads",
        data=body,
        headers={"x-api-key": KEY, "Content-Type": content_type},
        timeout=10,
    )


def test_a_request_body_of_a_binary_media_type_reaches_the_function_base64_encoded(
    serve: Serve, uploads: ScriptedFunction
) -> None:
    url = serve()
    # Even bytes that are UTF-8: the Content-Type decides, as API Gateway's does.
    post_upload(url, b"plain ascii", "image/png")
    post_upload(url, PNG, "image/jpeg")

    sent = [(event["isBase64Encoded"], base64.b64decode(event["body"])) for event in uploads.events]
    assert sent == [(True, b"plain ascii"), (True, PNG)]


def test_a_json_body_reaches_the_function_as_text_unless_json_is_listed(
    serve: Serve, uploads: ScriptedFunction
) -> None:
    post_upload(serve(), b'{"filename": "x.jpg"}', "application/json")
    post_upload(serve(["application/*"]), b'{"filename": "x.jpg"}', "application/json; charset=utf-8")

    as_text, listed = uploads.events
    assert (as_text["isBase64Encoded"], as_text["body"]) == (False, '{"filename": "x.jpg"}')
    assert (listed["isBase64Encoded"], base64.b64decode(listed["body"])) == (True, b'{"filename": "x.jpg"}')
