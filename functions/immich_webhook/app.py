"""POST /api/immich/webhook: Immich's "Trigger Webhook" workflow action queues the new photo's import."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.intake.responses import WebhookAnswer
from immichvr_depth.intake.webhook import SECRET_HEADER, handle_webhook, require_secret, webhook_secret
from immichvr_depth.platform.errors import InvalidRequest
from immichvr_depth.platform.http import (
    build_resolver,
    decode_json,
    error_response,
    json_answer,
    json_response,
)
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import get_settings

app = build_resolver()


@app.post(
    "/api/immich/webhook",
    summary="Immich workflow webhook: queue the import of a new photo",
    description=(
        f"For Immich's workflow action Trigger Webhook on the AssetCreate trigger, with headerName "
        f"{SECRET_HEADER} and the shared secret as headerValue. Needs no x-api-key."
    ),
    status_code=202,
    responses={
        200: json_answer(
            "acknowledged and ignored: another trigger, or not an image (says why)", WebhookAnswer
        ),
        202: json_answer("the asset's import is queued", WebhookAnswer),
        400: error_response("the body is not Immich's webhook payload"),
        401: error_response(f"no or wrong {SECRET_HEADER} header"),
    },
    tags=["immich"],
    security=[{"webhookSecret": []}],
)
def immich_webhook() -> Response[Any]:
    event = app.current_event
    require_secret(event.headers, webhook_secret(get_settings()))
    try:
        payload = decode_json(event.body or "")
    except ValueError:
        raise InvalidRequest("the webhook body is not JSON") from None
    result = handle_webhook(payload)
    status = HTTPStatus.ACCEPTED if result.queued else HTTPStatus.OK
    return json_response(status, WebhookAnswer.of(result))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
