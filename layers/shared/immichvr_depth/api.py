"""What every HTTP function shares: CORS, JSON errors and the resolver they are set on."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types

from immichvr_depth.errors import AppError, InvalidRequest
from immichvr_depth.observability import logger
from immichvr_depth.settings import get_settings

EXPOSED_HEADERS = [
    "ETag",
    "X-Depth-Map-Version",
    "X-Model-Name",
    "X-Model-Version",
    "X-Generated-At",
    "Location",
]


def json_response(
    status: HTTPStatus | int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


def require_uuid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest(f"{name} must be a UUID, got {value!r}") from None


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(
        cors=CORSConfig(
            allow_origin=get_settings().cors_allow_origin,
            allow_headers=["X-Api-Key", "If-None-Match"],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    )

    @app.exception_handler(AppError)
    def app_error(error: AppError) -> Response[Any]:
        logger.info("request refused", status=int(error.status), error=error.code, reason=error.message)
        return json_response(error.status, error.to_body())

    @app.not_found
    def route_not_found(_: Exception) -> Response[Any]:
        return json_response(
            HTTPStatus.NOT_FOUND,
            {"success": False, "error": "route_not_found", "message": "no such route"},
        )

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[Any]:
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

    return app
