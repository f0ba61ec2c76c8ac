"""What every HTTP function shares: CORS, JSON errors and the resolver they are set on."""

from __future__ import annotations

import base64
import json
import uuid
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from immichvr_depth.platform.errors import AppError, InvalidRequest, UnsupportedMediaType
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
]

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["success", "error", "message"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "error": {"type": "string", "description": "a stable machine-readable code"},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}


def error_response(description: str) -> OpenAPIResponse:
    """An OpenAPI response in the API's JSON error shape."""
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


# The answers every route may give besides its own, for the OpenAPI document.
ERROR_RESPONSES: dict[int, Any] = {
    400: error_response("a malformed id, parameter or body"),
    403: error_response("no valid x-api-key header"),
    404: error_response("no such item, or the version is not made yet"),
}


def json_response(
    status: HTTPStatus | int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
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


def require_uuid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest(f"{name} must be a UUID, got {value!r}") from None


def require_media_item_id(value: str) -> str:
    """The route's media item id, checked, and named on every log line of this request."""
    media_item_id = require_uuid(value, "id")
    logger.append_keys(media_item_id=media_item_id)
    return media_item_id


def build_resolver() -> APIGatewayRestResolver:
    # Validation makes the declared query, header and body parameters both checked and documented
    # (the OpenAPI document is generated from them).
    app = APIGatewayRestResolver(
        enable_validation=True,
        cors=CORSConfig(
            allow_origin=get_settings().cors_allow_origin,
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
        sent = app.current_event.headers.get("content-type", "")[:100]
        return refuse(UnsupportedMediaType(f"the request body must be application/json, not {sent!r}"))

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
            HTTPStatus.NOT_FOUND,
            {"success": False, "error": "route_not_found", "message": "no such route"},
        )

    def internal_error() -> Response[Any]:
        logger.exception("unexpected error")
        request_id = app.lambda_context.aws_request_id if app.lambda_context else None
        return json_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            {
                "success": False,
                "error": "internal_error",
                "message": "something went wrong on our side; the request id is in the logs",
                "requestId": request_id,
            },
        )

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response[Any]:
        return internal_error()

    return app


def _describe(problem: dict[str, Any]) -> str:
    """`query.version: Input should be 'thumbnail' or 'full_resolution'`, from pydantic's error."""
    where = ".".join(str(part) for part in problem.get("loc", ()))
    return f"{where}: {problem.get('msg', 'invalid')}"
