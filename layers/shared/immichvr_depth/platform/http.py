"""What every HTTP function shares: CORS, JSON errors and the resolver they are set on, and the base of
every JSON answer's model (each flow's answers live in its own module: intake/responses.py,
serving/responses.py; the error answers are here)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Annotated, Any, Final, Literal, TypeVar
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from immichvr_depth.platform.errors import AppError, InvalidRequest, UnsupportedMediaType, echoed
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import get_settings

EXPOSED_HEADERS = [
    "ETag",
    "X-Depth-Map-Version",
    "X-Model-Name",
    "X-Model-Version",
    "X-Generated-At",
    "Location",
    "Retry-After",
    "Content-Disposition",
]

# The media types API Gateway treats as binary for this API: the DepthApi's BinaryMediaTypes in
# template.yaml, where SAM has each `/` written `~1` (tests/unit/deployment/test_binary_media_types.py
# holds the two equal). Every image the API answers with is covered: PNG depth maps (16- and 8-bit),
# JPEG photos and stereo pairs, and `image/*` so that an <img>'s Accept (`image/avif,image/webp,...`)
# is answered with bytes too. Never `*/*`: API Gateway would then treat every payload as binary, the
# CORS preflights of its mock integration included.
BINARY_MEDIA_TYPES: Final = ("image/png", "image/jpeg", "image/*")

_T = TypeVar("_T")


class _LeftOutWhenNone:
    """Marks a field of a JsonAnswer that the body carries only when it is set."""

    def __repr__(self) -> str:
        return "LeftOutWhenNone"


_LEFT_OUT_WHEN_NONE = _LeftOutWhenNone()

# A field present only when set: None leaves the key out of the body (never `null`), and the schema
# lists the key as optional and not nullable. Only a JsonAnswer's own fields (the top level) are left
# out; a nested model's None fields are sent as null.
LeftOutWhenNone = Annotated[_T | SkipJsonSchema[None], _LEFT_OUT_WHEN_NONE]


def _left_out_when_none(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name for name, field in model.model_fields.items() if _LEFT_OUT_WHEN_NONE in field.metadata
    )


def _document_presence(schema: dict[str, Any], model: type[Any]) -> None:
    """Every key a body always carries is required in the schema, constants and nullable keys too (the
    schema says what is sent, not what a caller must give); a LeftOutWhenNone key is not."""
    optional: set[str] = set()
    for name in _left_out_when_none(model):
        field = model.model_fields[name]
        optional |= {name, field.serialization_alias or field.alias or name}
    properties: dict[str, Any] = schema.get("properties", {})
    for key, prop in properties.items():
        # The field's own name in Title Case adds nothing to the description the docstring gives.
        prop.pop("title", None)
        if key in optional:
            prop.pop("default", None)
    schema["required"] = [key for key in properties if key not in optional]


class JsonAnswer(BaseModel):
    """A JSON answer body. `to_json` gives the bytes sent: `json.dumps` of the fields in declaration
    order (separators `, ` and `: `), None as null except for LeftOutWhenNone fields, which are left out.
    The model's schema (from its fields and their docstrings) is what the OpenAPI document declares."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra=_document_presence,
    )

    def to_json(self) -> str:
        left_out = {name for name in _left_out_when_none(type(self)) if getattr(self, name) is None}
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude=left_out))


class CamelCaseAnswer(JsonAnswer):
    """A JsonAnswer whose keys are its snake_case field names in camelCase (`media_item_id` is sent
    as `mediaItemId`); built with the field names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ErrorAnswer(CamelCaseAnswer):
    """Every error answer a function gives (4xx, and the 5xx of an AppError): a refused request, a
    failed validation (400), a route the function does not have (404 `route_not_found`)."""

    success: Literal[False] = False
    error: str
    """a stable machine-readable code: `invalid_request`, `not_found`, `status_conflict`, ..."""
    message: str
    """what went wrong, for a person"""
    details: LeftOutWhenNone[dict[str, Any]] = None
    """what the code is about (ids, limits, the failed validations); only when there is something to say"""

    @classmethod
    def of(cls, error: AppError) -> ErrorAnswer:
        return cls(error=error.code, message=error.message, details=error.details or None)


class InternalErrorAnswer(ErrorAnswer):
    """The 500 of any route: an unexpected error, logged under the request id it names."""

    request_id: str | None
    """the Lambda request id the logs carry; null outside Lambda"""


class GatewayRefusal(JsonAnswer):
    """API Gateway's own answer, before any function runs: 403 for a missing or wrong x-api-key header.
    No function builds it; it is here so the document can declare it."""

    message: str


def json_answer(description: str, model: type[JsonAnswer]) -> OpenAPIResponse:
    """An OpenAPI response whose JSON body is `model`."""
    return {"description": description, "content": {"application/json": {"model": model}}}


def error_response(description: str) -> OpenAPIResponse:
    """An OpenAPI response in the API's JSON error shape."""
    return json_answer(description, ErrorAnswer)


# An answer without a body: Powertools would otherwise give it the handler's return type as JSON, and
# the document generator (immichvr_local.openapi) drops the empty content map.
def no_body(description: str, headers: dict[str, Any] | None = None) -> OpenAPIResponse:
    response: OpenAPIResponse = {"description": description, "content": {}}
    if headers:
        response["headers"] = headers
    return response


# The answers every route may give besides its own, for the OpenAPI document.
ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    400: error_response("a malformed id, parameter or body"),
    403: json_answer("no valid x-api-key header (API Gateway's answer)", GatewayRefusal),
    404: error_response("no such item, or the version is not made yet"),
}


def json_response(
    status: HTTPStatus | int, body: JsonAnswer, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=body.to_json(),
        headers=headers,
    )


def binary_response(content_type: str, body: bytes, headers: dict[str, str]) -> Response[str]:
    """A binary body, base64-encoded here: the OpenAPI validation serialises bodies as JSON text,
    which raw PNG bytes are not."""
    response: Response[str] = Response(
        status_code=HTTPStatus.OK,
        content_type=content_type,
        headers=headers,
        body=base64.b64encode(body).decode(),
    )
    response.base64_encoded = True
    return response


# How API Gateway's REST API picks binary payloads out of a Lambda proxy integration. Sources: the
# developer guide ("Binary media types for REST APIs": "API Gateway uses the first Accept header from
# clients to determine if a response should return binary media"; "You can use the wildcard character
# (*) to cover multiple media types"; "Content type conversions": only the first Accept media type is
# honoured), and two emulators' tests of the rule run against AWS itself, which settle what the guide
# leaves open (localstack/localstack#12199, test_aws_proxy_binary_response; ministackorg/ministack#767
# for `image/*`):
# - only the first type of Accept counts, whatever the q-values say: `image/webp,image/png` is not
#   binary when only image/png is listed, `image/png,*/*;q=0.8` is;
# - a wildcard works in the list, on the subtype only (`image/*` covers `image/avif` and `image/*`;
#   `*/test` covers nothing), never in the Accept (`*/*` and `image/*` sent match only an entry
#   that covers them: `*/*` is binary only when `*/*` is listed);
# - a request with no Accept gets the base64 text (observed without `*/*` in the list, which this API
#   never lists); the response's own Content-Type is not looked at.
# A request's Content-Type is matched the same way to decide whether its body reaches the function
# base64-encoded. Media types compare as written (case-sensitive) with parameters dropped, as
# localstack does; where AWS is unverified (case, parameters), an image route answering False only
# sends the client to S3, which is always correct.


def _type_and_subtype(media_type: str) -> tuple[str, str] | None:
    """`("image", "png")` for `image/png` or ` image/png; q=0.9`; None for what is no media type."""
    kind, slash, subtype = media_type.split(";", 1)[0].strip().partition("/")
    if not slash or not kind or not subtype or "/" in subtype:
        return None
    return kind, subtype


def is_binary_media_type(
    media_type: str | None, binary_media_types: Sequence[str] = BINARY_MEDIA_TYPES
) -> bool:
    """Whether API Gateway counts `media_type` (a request's Content-Type, or the first type of its
    Accept) among an API's binary media types."""
    sent = _type_and_subtype(media_type or "")
    if sent is None:
        return False
    for listed in binary_media_types:
        entry = _type_and_subtype(listed)
        if entry is None:
            continue
        if entry == ("*", "*"):
            return True
        if entry[0] == "*":  # `*/test`: AWS matches nothing with it, not even `*/test` sent
            continue
        if entry[0] == sent[0] and entry[1] in ("*", sent[1]):
            return True
    return False


def binary_accepted(accept: str | None, binary_media_types: Sequence[str] = BINARY_MEDIA_TYPES) -> bool:
    """Whether API Gateway, answering a request with this Accept header (None: none sent), decodes a
    Lambda proxy result's base64 body (isBase64Encoded) to its bytes; when not, the client gets the
    base64 text itself."""
    return is_binary_media_type((accept or "").split(",", 1)[0], binary_media_types)


def binary_body_delivered(accept: str | None, content_type: str) -> bool:
    """Whether a binary body of `content_type`, answered inline (binary_response), reaches a client
    that sent this Accept as its bytes. False: API Gateway would hand the client base64 text, so the
    answer must be a redirect to S3 instead. The body's type must itself be one of the API's binary
    media types too: API Gateway does not look at it, but an image type the template does not list
    is one that was added to the API without the list being brought along, and goes to S3."""
    return binary_accepted(accept) and is_binary_media_type(content_type)


def already_held(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names what the client already holds, as RFC 9110 reads it for
    a GET: `*` matches any current file, and tags compare weakly (`W/"x"` matches `"x"`)."""
    if if_none_match.strip() == "*":
        return True
    held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag.removeprefix("W/") in held


def require_uuid(value: str, name: str) -> str:
    """A path parameter as the UUID it names, in its plain form. The resolver takes parameters from
    the path, which API Gateway's REST proxy keeps percent-encoded, so they are decoded here first: an
    id sent as `%7B<uuid>%7D` names the same item as `{<uuid>}` and `<uuid>`."""
    try:
        return str(uuid.UUID(unquote(value)))
    except ValueError:
        raise InvalidRequest(f"{name} must be a UUID, got {echoed(value)}") from None


def require_media_item_id(value: str) -> str:
    """The route's media item id, checked, and named on every log line of this request."""
    media_item_id = require_uuid(value, "id")
    logger.append_keys(media_item_id=media_item_id)
    return media_item_id


def decode_json(body: str) -> Any:
    """A request body's JSON, as `json.loads` reads it (JSONDecodeError when malformed); a body nested
    deeper than the decoder can follow is the caller's mistake, an InvalidRequest, not a crash."""
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidRequest("the request body is nested too deeply to be JSON this API reads") from None


class OriginFromSettings(CORSConfig):
    """CORS whose allowed origin is the settings' `cors_allow_origin`, read when a request is answered:
    the resolver is built when a handler module is imported, before the settings may be read."""

    @property
    def _allowed_origins(self) -> list[str]:
        return [get_settings().cors_allow_origin]

    @_allowed_origins.setter
    def _allowed_origins(self, _configured: list[str]) -> None:
        """CORSConfig's constructor stores its own default here; the settings win."""


def build_resolver() -> APIGatewayRestResolver:
    # Validation makes the declared query, header and body parameters both checked and documented
    # (the OpenAPI document is generated from them).
    app = APIGatewayRestResolver(
        enable_validation=True,
        json_body_deserializer=decode_json,
        cors=OriginFromSettings(
            allow_headers=["X-Api-Key", "If-None-Match"],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        ),
    )

    def refuse(error: AppError) -> Response[Any]:
        logger.info("request refused", status=int(error.status), error=error.code, reason=error.message)
        return json_response(error.status, error.to_body())

    app.exception_handler(AppError)(refuse)

    @app.exception_handler(RequestValidationError)
    def invalid_parameters(error: RequestValidationError) -> Response[Any]:
        problems = [_describe(problem) for problem in error.errors()]
        logger.info("request refused", status=400, error="invalid_request", reason=problems)
        return json_response(
            HTTPStatus.BAD_REQUEST,
            InvalidRequest("; ".join(problems), errors=problems).to_body(),
        )

    # Powertools reads a body as JSON, a form or multipart; any other Content-Type (text/plain, say)
    # raises out of its validation, and so does a multipart type without a boundary (a bare
    # ValueError). Both are the caller's mistake, not a 500: every body this API takes is JSON.
    def body_not_json() -> Response[Any]:
        sent = echoed(app.current_event.headers.get("content-type", ""))
        return refuse(UnsupportedMediaType(f"the request body must be application/json, not {sent}"))

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_body_type(_: RequestUnsupportedContentType) -> Response[Any]:
        return body_not_json()

    @app.exception_handler(ValueError)
    def value_error(error: ValueError) -> Response[Any]:
        if app.current_event.headers.get("content-type", "").lower().startswith("multipart/"):
            return body_not_json()
        if isinstance(error, UnicodeDecodeError):
            # A JSON body that is not UTF-8 fails while Powertools decodes it, before any route runs.
            return refuse(InvalidRequest("the request body is not UTF-8 encoded JSON"))
        return internal_error()

    @app.not_found
    def route_not_found(_: Exception) -> Response[Any]:
        return json_response(
            HTTPStatus.NOT_FOUND, ErrorAnswer(error="route_not_found", message="no such route")
        )

    def internal_error() -> Response[Any]:
        logger.exception("unexpected error")
        request_id = app.lambda_context.aws_request_id if app.lambda_context else None
        return json_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            InternalErrorAnswer(
                error="internal_error",
                message="something went wrong on our side; the request id is in the logs",
                request_id=request_id,
            ),
        )

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response[Any]:
        return internal_error()

    return app


def _describe(problem: dict[str, Any]) -> str:
    """`query.version: Input should be 'thumbnail' or 'full_resolution'`, from pydantic's error."""
    where = ".".join(str(part) for part in problem.get("loc", ()))
    return f"{where}: {problem.get('msg', 'invalid')}"
