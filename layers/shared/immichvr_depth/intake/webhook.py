"""Immich's "Trigger Webhook" workflow action, received: check the shared secret, read the asset,
queue its import.

Immich 3's workflow action (plugin method ``assetDataWebhook``: url, headerName, headerValue) POSTs
JSON with ``Content-Type: application/json`` and the one header configured in the action. For the
``AssetCreate`` trigger the body is the workflow's envelope::

    {"type": "AssetV1", "trigger": "AssetCreate", "data": {"asset": {"id": ..., "type": "IMAGE", ...}}}

Some builds of the plugin post ``data.asset`` alone (the bare asset object); that is accepted too, and
then the trigger is whatever the workflow was set up with.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from immichvr_depth.intake.import_queue import ImportSource, enqueue_import
from immichvr_depth.platform.errors import AppError, InvalidRequest, echoed
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.secrets import read_secret
from immichvr_depth.platform.settings import Settings

# The header name to enter as the action's headerName; the secret is its headerValue.
SECRET_HEADER = "X-Immich-Webhook-Secret"  # noqa: S105 - a header name, not a secret
WORKFLOW_TYPE = "AssetV1"
IMPORT_TRIGGER = "AssetCreate"
_ASSET_TYPES = frozenset({"IMAGE", "VIDEO", "AUDIO", "OTHER"})


class WebhookUnauthorized(AppError):
    """No secret, or the wrong one: the caller is not the Immich we were set up with."""

    status = HTTPStatus.UNAUTHORIZED
    code = "unauthorized"


class WebhookNotConfigured(AppError):
    """The deployment has no webhook secret to compare with (our set-up problem, not the caller's)."""

    code = "webhook_not_configured"


@dataclass(frozen=True)
class WebhookAsset:
    id: str
    type: str
    trigger: str | None
    is_trashed: bool


@dataclass(frozen=True)
class WebhookResult:
    """What a webhook led to (its answer is intake.responses.WebhookAnswer); `asset_id` is empty when
    the payload names no asset."""

    queued: bool
    asset_id: str
    reason: str
    message_id: str | None = None


def webhook_secret(settings: Settings) -> str:
    """The shared secret: given directly (the local runner), else the SSM SecureString the template
    names, cached by Powertools."""
    try:
        secret = read_secret(settings.immich_webhook_secret, settings.immich_webhook_secret_parameter)
    except GetParameterError:
        logger.exception("the webhook secret parameter cannot be read")
        raise WebhookNotConfigured("the webhook secret cannot be read; see the logs") from None
    if secret is None:
        raise WebhookNotConfigured(
            "no webhook secret configured: set IMMICH_WEBHOOK_SECRET_PARAMETER or IMMICH_WEBHOOK_SECRET"
        )
    return secret


def require_secret(headers: Mapping[str, str], expected: str) -> None:
    """Compare the presented secret with ours in constant time; 401 when absent or different."""
    if not expected:
        raise WebhookNotConfigured("the webhook secret is empty")
    wanted = SECRET_HEADER.lower()
    presented = next((value for name, value in headers.items() if name.lower() == wanted), None)
    if presented is None:
        raise WebhookUnauthorized(f"the {SECRET_HEADER} header is missing")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise WebhookUnauthorized(f"the {SECRET_HEADER} header does not match")


def read_payload(payload: object) -> WebhookAsset | str:
    """The asset a webhook names, or the reason to ignore a well-formed payload about something else.

    Raises ``InvalidRequest`` for a payload that is neither Immich's envelope nor an asset."""
    if not isinstance(payload, Mapping):
        raise InvalidRequest("the webhook body must be a JSON object")
    trigger: str | None = None
    if "data" in payload or "trigger" in payload:
        kind, trigger, data = payload.get("type"), payload.get("trigger"), payload.get("data")
        if not isinstance(trigger, str) or not isinstance(data, Mapping):
            raise InvalidRequest("the webhook envelope needs a string trigger and a data object")
        if kind is not None and kind != WORKFLOW_TYPE:
            return f"workflow type {echoed(kind)} is not {WORKFLOW_TYPE}"
        if trigger != IMPORT_TRIGGER:
            return f"trigger {echoed(trigger)} does not import; only {IMPORT_TRIGGER} does"
        asset = data.get("asset")
    else:
        asset = payload  # the bare asset some plugin builds send
    return _read_asset(asset, trigger)


def _read_asset(asset: object, trigger: str | None) -> WebhookAsset:
    if not isinstance(asset, Mapping):
        raise InvalidRequest("the webhook names no asset object")
    raw_id, raw_type = asset.get("id"), asset.get("type")
    try:
        asset_id = str(uuid.UUID(str(raw_id))) if isinstance(raw_id, str) else None
    except ValueError:
        asset_id = None
    if asset_id is None:
        raise InvalidRequest("the webhook's asset has no UUID id")
    if not isinstance(raw_type, str) or raw_type.upper() not in _ASSET_TYPES:
        raise InvalidRequest("the webhook's asset has no type (IMAGE, VIDEO, AUDIO or OTHER)")
    return WebhookAsset(
        id=asset_id,
        type=raw_type.upper(),
        trigger=trigger,
        is_trashed=asset.get("isTrashed") is True,
    )


def handle_webhook(payload: object) -> WebhookResult:
    """Queue the import a webhook asks for; ``queued=False``, with the reason, when the payload is
    about something else (another trigger or workflow type) or the asset is not one to import (not an
    image, or already in the trash)."""
    read = read_payload(payload)
    if isinstance(read, str):
        logger.info("webhook ignored", reason=read)
        return WebhookResult(queued=False, asset_id="", reason=read)
    if read.type != "IMAGE":
        reason = f"asset {read.id} is a {read.type.lower()}; only images get depth maps"
        logger.info("webhook ignored", asset_id=read.id, reason=reason)
        return WebhookResult(queued=False, asset_id=read.id, reason=reason)
    if read.is_trashed:
        reason = f"asset {read.id} is in the trash"
        logger.info("webhook ignored", asset_id=read.id, reason=reason)
        return WebhookResult(queued=False, asset_id=read.id, reason=reason)
    message_id = enqueue_import(read.id, ImportSource.WEBHOOK)
    logger.info("webhook queued an import", asset_id=read.id, trigger=read.trigger, message_id=message_id)
    return WebhookResult(queued=True, asset_id=read.id, reason="import queued", message_id=message_id)
