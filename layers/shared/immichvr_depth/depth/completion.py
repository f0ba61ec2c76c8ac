"""Asynchronous inference, second half: store what the endpoint answered and finish the item.

One notification per submitted version. A success stores the depth map (file first, record last,
each once), takes the version off the item's `pending_versions` with a conditional update and
completes the item when none is left; a failure fails the item with the reason, and requeues it
unless the model refused the image (its 4xx) or the item has used its attempts. Any notification may
arrive twice, late, or for an item deleted meanwhile: each of those changes nothing. The async input
and output objects are deleted once their answer is dealt with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from immichvr_depth.depth.async_inference import (
    InvocationContext,
    Notification,
    is_async_key,
    parse_inference_id,
)
from immichvr_depth.depth.async_inference import parse_s3_uri as _parse_s3_uri
from immichvr_depth.depth.backends import DepthPrediction, prediction_from_png
from immichvr_depth.depth.processing import complete_item, store_prediction
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage, InvalidRequest, NotFound
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.conditions import condition_failed
from immichvr_depth.store.processing_queue import MAX_RECEIVES, enqueue_processing
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem, utcnow
from immichvr_depth.store.versions import VersionType

# Statuses in which an answer is still wanted. Anything else (completed, pending, being deleted)
# means the answer is a late duplicate or its item is going: it is dropped.
_ACCEPTING = frozenset(
    {ProcessingStatus.PROCESSING.value, ProcessingStatus.QUEUED.value, ProcessingStatus.FAILED.value}
)


class Result(StrEnum):
    STORED = "stored"  # the map was stored (and the item completed if it was the last)
    DUPLICATE = "duplicate"  # already dealt with: nothing changed
    DROPPED = "dropped"  # the item is gone or no longer wants the answer
    FAILED = "failed"  # the item failed for good
    REQUEUED = "requeued"  # the item failed and was queued for another try


@dataclass(frozen=True)
class Completion:
    result: Result
    media_item_id: str | None
    version: VersionType | None
    reason: str | None = None


def handle_notification(notification: Notification) -> Completion:
    """Deal with one notification. Raises only for what a retry may fix (S3 or DynamoDB errors)."""
    if notification.latency_ms is not None:
        metrics.add_metric(
            name="InferenceLatency", unit=MetricUnit.Milliseconds, value=notification.latency_ms
        )
    named = parse_inference_id(notification.inference_id)
    if named is None:
        logger.warning("notification for an inference this stack did not submit; dropped")
        return Completion(Result.DROPPED, None, None, "unknown inference id")
    media_item_id, version = named
    logger.append_keys(
        media_item_id=media_item_id, version=version.value, inference_id=notification.inference_id
    )
    try:
        if notification.succeeded:
            return _on_success(notification, media_item_id, version)
        return _on_failure(notification, media_item_id, version)
    except NotFound:
        # The item was deleted while this answer was being dealt with: nothing of it is wanted.
        return _drop(notification, media_item_id, version, None)


def _on_success(notification: Notification, media_item_id: str, version: VersionType) -> Completion:
    item = media_items.find_item(media_item_id)
    if item is None or item.status not in _ACCEPTING | {ProcessingStatus.COMPLETED.value}:
        return _drop(notification, media_item_id, version, item)
    if version.value not in (item.pending_versions or set()) and depth_maps.find(media_item_id, version):
        logger.info("answer already stored; duplicate notification ignored")
        if item.status == ProcessingStatus.PROCESSING.value and not item.pending_versions:
            # The first delivery stored the map and took the version off, then stopped short of
            # completing the item: finish its work.
            complete_item(item)
        _clean_up(notification)
        return Completion(Result.DUPLICATE, media_item_id, version)
    if item.status == ProcessingStatus.COMPLETED.value:
        return _drop(notification, media_item_id, version, item)

    context = _context(notification)
    if context is None:
        # The input is deleted only after its map is stored, so this is a late duplicate.
        logger.info("async input already removed; duplicate notification ignored")
        return Completion(Result.DUPLICATE, media_item_id, version)
    assert notification.output_location is not None  # a completed notification names its output
    png = _read(notification.output_location)
    try:
        prediction = prediction_from_png(png, input_size=context.input_size)
        _store(item, context, prediction)
    except InvalidImage as error:
        return _fail(item, version, error.message, permanent=True, notification=notification)
    except depth_maps.ItemGone:
        return _drop(notification, media_item_id, version, None)
    metrics.add_metric(name="DepthMapsMade", unit=MetricUnit.Count, value=1)

    marked = _mark_done(item, version)
    if marked and not item.pending_versions and item.status == ProcessingStatus.PROCESSING.value:
        complete_item(item)
    _clean_up(notification)
    return Completion(Result.STORED, media_item_id, version)


def _store(item: MediaItem, context: InvocationContext, prediction: DepthPrediction) -> None:
    """The one call of store_prediction: what it needs comes from the submission's context."""
    store_prediction(item, context.version, context.oriented_size, prediction, context.replacing)


def _mark_done(item: MediaItem, version: VersionType) -> bool:
    """Take `version` off the item's pending versions, atomically; False when it was not pending.
    The item is refreshed either way, so the caller sees what is still outstanding."""
    try:
        item.update(
            actions=[MediaItem.pending_versions.delete({version.value}), MediaItem.updated_at.set(utcnow())],
            condition=MediaItem.pending_versions.contains(version.value),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
        media_items.reload(item)
        return False
    return True


def _on_failure(notification: Notification, media_item_id: str, version: VersionType) -> Completion:
    metrics.add_metric(name="AsyncFailures", unit=MetricUnit.Count, value=1)
    item = media_items.find_item(media_item_id)
    if item is None or item.status not in _ACCEPTING:
        return _drop(notification, media_item_id, version, item)
    if item.status != ProcessingStatus.PROCESSING.value or version.value not in (
        item.pending_versions or set()
    ):
        logger.info("failure of a version no longer outstanding; ignored", reason=notification.failure_reason)
        _clean_up(notification)
        return Completion(Result.DUPLICATE, media_item_id, version)
    status = notification.model_status
    reason = _failure_message(notification)
    permanent = status is not None and 400 <= status < 500
    return _fail(item, version, reason, permanent=permanent, notification=notification)


def _fail(
    item: MediaItem, version: VersionType, reason: str, *, permanent: bool, notification: Notification
) -> Completion:
    """Fail the item with the reason (no version left pending); a failure worth another try, on an
    item with attempts left, goes back on the processing queue."""
    try:
        media_items.transition(
            item, ProcessingStatus.FAILED, MediaItem.pending_versions.remove(), error=reason
        )
    except media_items.StatusConflict:
        # Another version's failure got there first: the item is already failed with a reason.
        logger.info("item no longer processing; failure not recorded again", status=item.status)
        _clean_up(notification)
        return Completion(Result.DUPLICATE, item.media_item_id, version, reason)
    requeue = not permanent and int(item.attempts or 0) < MAX_RECEIVES
    if requeue:
        # A regeneration goes round again as one; a first map is simply missing.
        context = _context(notification)
        replacing = context.replacing if context is not None else None
        regenerate = {version: replacing} if replacing is not None else {}
        enqueue_processing(item.media_item_id, regenerate)
        metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)
        logger.warning("asynchronous inference failed; item requeued", reason=reason, attempts=item.attempts)
    else:
        metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=1)
        logger.warning("asynchronous inference failed; item failed", reason=reason, permanent=permanent)
    _clean_up(notification)
    return Completion(Result.REQUEUED if requeue else Result.FAILED, item.media_item_id, version, reason)


def _drop(
    notification: Notification, media_item_id: str, version: VersionType, item: MediaItem | None
) -> Completion:
    status = item.status if item is not None else "deleted"
    logger.info("answer for an item that no longer wants it; dropped", item_status=status)
    _clean_up(notification)
    return Completion(Result.DROPPED, media_item_id, version, f"media item is {status}")


def _failure_message(notification: Notification) -> str:
    """The model's own message where its failure file holds one (the container answers errors as
    JSON), else SageMaker's failure reason."""
    reason = notification.failure_reason or "asynchronous inference failed without a reason"
    if not notification.failure_location:
        return reason
    try:
        body = json.loads(_read(notification.failure_location))
    except (ClientError, InvalidRequest, ValueError, UnicodeDecodeError):
        return reason
    message = body.get("message") if isinstance(body, dict) else None
    return (
        f"the depth model rejected the image: {message}" if isinstance(message, str) and message else reason
    )


def _context(notification: Notification) -> InvocationContext | None:
    bucket, key = _own_location(notification.input_location)
    try:
        head = aws.s3().head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if aws.missing_object(error):
            return None
        raise
    return InvocationContext.from_metadata(head["Metadata"])


def _read(location: str) -> bytes:
    bucket, key = _own_location(location)
    body: bytes = aws.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _own_location(location: str) -> tuple[str, str]:
    """Only the stack's own bucket, under the async prefixes, is read or deleted."""
    bucket, key = _parse_s3_uri(location)
    if bucket != get_settings().media_bucket or not is_async_key(key):
        raise InvalidRequest(f"{location} is not an asynchronous inference location of this stack")
    return bucket, key


def _clean_up(notification: Notification) -> None:
    """Delete the request's input and its output or failure file: they are dealt with."""
    for location in (
        notification.input_location,
        notification.output_location,
        notification.failure_location,
    ):
        if not location:
            continue
        try:
            bucket, key = _own_location(location)
        except InvalidRequest:
            logger.warning("not deleting a location outside the async prefixes", location=location)
            continue
        aws.s3().delete_object(Bucket=bucket, Key=key)
