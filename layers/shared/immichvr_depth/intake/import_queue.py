"""The Immich import queue: one message per asset to import, sent by the webhook, the scheduled sync
and album imports, and worked off by the import worker with the one import there is (`import_asset`).

A failed import is told apart by what a retry could change:

* the preview is not made yet (Immich makes it just after an upload): retried later, each time later;
* Immich unreachable, failing, or refusing our key: retried the same way, and after the queue's
  receive limit the message lands in the dead-letter queue, where an alarm sees it;
* the asset can never be imported (a video, trashed, offline, unknown, too large): logged and dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from immichvr_depth.intake.immich import ImmichAssetNotFound, ImmichClient, ImmichPreviewNotReady
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import AppError, Conflict, InvalidRequest, Unprocessable, UpstreamError
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings

# SQS takes at most ten messages per SendMessageBatch, and a visibility timeout of at most 12 hours.
_BATCH = 10
_MAX_VISIBILITY_S = 12 * 3600
# The longest a retry waits, so a preview made late is still picked up within the receive limit.
MAX_RETRY_DELAY_S = 15 * 60
_SEND_ATTEMPTS = 3


class ImportSource(StrEnum):
    WEBHOOK = "webhook"
    SYNC = "sync"
    ALBUM = "album"


@dataclass(frozen=True)
class ImportMessage:
    asset_id: str
    source: ImportSource

    def to_json(self) -> str:
        return json.dumps({"assetId": self.asset_id, "source": self.source.value})

    @classmethod
    def from_json(cls, body: str) -> ImportMessage:
        try:
            payload = json.loads(body)
            asset_id = payload["assetId"]
            source = ImportSource(payload.get("source", ImportSource.WEBHOOK.value))
        except (ValueError, TypeError, KeyError) as error:
            raise InvalidRequest(f"not an import message: {error}") from error
        if not isinstance(asset_id, str) or not asset_id:
            raise InvalidRequest("import message has no assetId")
        return cls(asset_id=asset_id, source=source)


def enqueue_import(asset_id: str, source: ImportSource) -> str:
    """Queue one asset for import; returns the SQS message id."""
    response = aws.sqs().send_message(
        QueueUrl=_queue_url(), MessageBody=ImportMessage(asset_id, source).to_json()
    )
    return response["MessageId"]


def enqueue_imports(asset_ids: Iterable[str], source: ImportSource) -> int:
    """Queue each asset once (ten to a SendMessageBatch); returns how many were queued. Entries SQS
    refuses are sent again; any still refused after that fail the call, so nothing is lost quietly."""
    unique = list(dict.fromkeys(asset_ids))
    for start in range(0, len(unique), _BATCH):
        _send_batch(unique[start : start + _BATCH], source)
    return len(unique)


def _send_batch(asset_ids: list[str], source: ImportSource) -> None:
    pending = {str(index): asset_id for index, asset_id in enumerate(asset_ids)}
    for _ in range(_SEND_ATTEMPTS):
        response = aws.sqs().send_message_batch(
            QueueUrl=_queue_url(),
            Entries=[
                {"Id": entry_id, "MessageBody": ImportMessage(asset_id, source).to_json()}
                for entry_id, asset_id in pending.items()
            ],
        )
        pending = {failure["Id"]: pending[failure["Id"]] for failure in response.get("Failed", [])}
        if not pending:
            return
    raise UpstreamError(f"SQS refused to queue {len(pending)} import(s)", assetIds=sorted(pending.values()))


def _queue_url() -> str:
    url = get_settings().import_queue_url
    if not url:
        raise AppError("no import queue configured: set IMPORT_QUEUE_URL")
    return url


# ---------------------------------------------------------------- the worker's side


class ImportOutcome(StrEnum):
    IMPORTED = "imported"
    ALREADY_IMPORTED = "already_imported"
    DROPPED = "dropped"


# Refusals no retry can change: the asset is not an image, is trashed or offline, was deleted here, is
# unknown to Immich (or hidden from the key), is larger than the cap, or the message names no valid
# asset.
_PERMANENT = (Unprocessable, Conflict, ImmichAssetNotFound, InvalidRequest)


def retry_delay_s(receive_count: int, base_s: int) -> int:
    """How long to leave a message before its next try: ``base_s``, then twice that, and so on up to
    ``MAX_RETRY_DELAY_S``. ``receive_count`` is SQS's count of deliveries, this one included."""
    exponent = max(0, min(receive_count - 1, 16))
    return min(base_s << exponent, MAX_RETRY_DELAY_S, _MAX_VISIBILITY_S)


def postpone(receipt_handle: str, delay_s: int) -> None:
    """Make a received message visible again only after ``delay_s``; the worker then reports it failed."""
    aws.sqs().change_message_visibility(
        QueueUrl=_queue_url(), ReceiptHandle=receipt_handle, VisibilityTimeout=delay_s
    )


def import_queued_asset(
    message: ImportMessage, client: ImmichClient, *, receipt_handle: str, receive_count: int
) -> ImportOutcome:
    """Import one queued asset. Returns what happened, or raises (after postponing the message) when
    a later try may succeed, so the caller reports the message failed and SQS delivers it again."""
    # Imported lazily: the import pulls in image probing, which the queueing functions never need.
    from immichvr_depth.intake.immich_import import import_asset

    try:
        # A queued import never brings back an item deleted here: only an explicit import does.
        result = import_asset(message.asset_id, client, lift_deletion=False)
    except ImmichPreviewNotReady:
        _retry_later("preview not made yet", message, receipt_handle, receive_count)
        raise
    except _PERMANENT as refusal:
        logger.warning(
            "import dropped: it cannot succeed",
            asset_id=message.asset_id,
            source=message.source.value,
            error=refusal.code,
            reason=refusal.message,
        )
        return ImportOutcome.DROPPED
    except Exception as error:
        reason = error.message if isinstance(error, AppError) else type(error).__name__
        _retry_later(reason, message, receipt_handle, receive_count)
        raise
    outcome = ImportOutcome.ALREADY_IMPORTED if result.already_imported else ImportOutcome.IMPORTED
    logger.info(
        "queued import done",
        asset_id=message.asset_id,
        source=message.source.value,
        outcome=outcome.value,
        media_item_id=result.item.media_item_id,
    )
    return outcome


def _retry_later(reason: str, message: ImportMessage, receipt_handle: str, receive_count: int) -> None:
    delay = retry_delay_s(receive_count, get_settings().import_retry_base_delay_s)
    logger.info(
        "import will be retried",
        asset_id=message.asset_id,
        source=message.source.value,
        reason=reason,
        receive_count=receive_count,
        retry_in_s=delay,
    )
    metrics.add_metric(name="ImportsRetried", unit="Count", value=1)
    postpone(receipt_handle, delay)
