"""Making the depth maps of one media item: thumbnail first, then full resolution."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from immichvr_depth import aws, depth_maps, media_items
from immichvr_depth.depth_backends import DepthBackend, DepthPrediction
from immichvr_depth.depth_maps import DepthMapFile
from immichvr_depth.errors import AppError, InvalidImage, NotFound
from immichvr_depth.imaging import ModelInput, fit_depth_png, prepare_model_input
from immichvr_depth.keys import depth_map_key
from immichvr_depth.models import MediaItem
from immichvr_depth.observability import logger, metrics
from immichvr_depth.settings import get_settings
from immichvr_depth.status import ProcessingStatus
from immichvr_depth.versions import VersionType, versions_to_process


@contextmanager
def _stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.add_metric(name=f"{name}Ms", unit=MetricUnit.Milliseconds, value=_ms_since(started))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


@dataclass(frozen=True)
class Outcome:
    media_item_id: str
    status: ProcessingStatus
    made: tuple[VersionType, ...] = ()
    reason: str | None = None


def _source_key(item: MediaItem, version: VersionType) -> str:
    key = item.thumbnail_path if version is VersionType.THUMBNAIL else item.original_path
    if not key:
        raise InvalidImage(f"media item has no stored file for the {version.value} version")
    return key


def _input_size(version: VersionType) -> int:
    settings = get_settings()
    if version is VersionType.THUMBNAIL:
        return settings.thumbnail_input_size
    return settings.full_resolution_input_size


@dataclass(frozen=True)
class PreparedInput:
    """A version's source image made ready for the model, and what storing its answer needs."""

    version: VersionType
    input_size: int
    model_input: ModelInput


def prepare_input(item: MediaItem, version: VersionType) -> PreparedInput:
    input_size = _input_size(version)
    with _stage("Download"):
        source = aws.s3().get_object(Bucket=get_settings().media_bucket, Key=_source_key(item, version))
        data = source["Body"].read()
    with _stage("Prepare"):
        model_input = prepare_model_input(data, short_side=input_size)
    return PreparedInput(version=version, input_size=input_size, model_input=model_input)


def store_prediction(
    item: MediaItem, version: VersionType, oriented_size: tuple[int, int], prediction: DepthPrediction
) -> None:
    """Fit the model's answer to the photo as displayed and store it as the version's depth map."""
    with _stage("Postprocess"):
        fitted = fit_depth_png(prediction.png, oriented_size)
    with _stage("Store"):
        depth_maps.store(
            DepthMapFile(
                media_item_id=item.media_item_id,
                version=version,
                key=depth_map_key(item.media_item_id, item.filename, version),
                body=fitted.body,
                width=fitted.width,
                height=fitted.height,
                sha256=fitted.sha256,
                model_name=prediction.model_name,
                model_version=prediction.model_version,
                input_size=prediction.input_size,
            )
        )
    logger.info(
        "depth map stored",
        version=version.value,
        width=fitted.width,
        height=fitted.height,
        bytes=len(fitted.body),
    )


def make_depth_map(item: MediaItem, version: VersionType, backend: DepthBackend) -> None:
    prepared = prepare_input(item, version)
    with _stage("Inference"):
        prediction = backend.estimate(
            prepared.model_input.body, prepared.model_input.content_type, prepared.input_size
        )
    store_prediction(item, version, prepared.model_input.oriented_size, prediction)


def process_media_item(media_item_id: str, backend: DepthBackend) -> Outcome:
    """Make every missing depth map of the item.

    An image that cannot be decoded fails the item for good (returned, not raised: retrying cannot
    help). Anything else is raised after the item is marked failed, so the queue retries it and, past
    the redrive limit, moves it to the dead-letter queue."""
    logger.append_keys(media_item_id=media_item_id)
    try:
        item = media_items.get_item(media_item_id)
    except NotFound:
        logger.warning("media item no longer exists; dropping its message")
        return Outcome(media_item_id, ProcessingStatus.FAILED, reason="media item not found")

    versions = versions_to_process(has_thumbnail=bool(item.thumbnail_path))
    if item.status == ProcessingStatus.COMPLETED.value:
        logger.info("already completed; duplicate delivery ignored")
        return Outcome(media_item_id, ProcessingStatus.COMPLETED)

    media_items.transition(item, ProcessingStatus.PROCESSING, count_attempt=True)
    made: list[VersionType] = []
    try:
        for version in versions:
            if depth_maps.find(media_item_id, version) is not None:
                continue
            make_depth_map(item, version, backend)
            made.append(version)
    except InvalidImage as error:
        reason = f"{error.message}"
        media_items.transition(item, ProcessingStatus.FAILED, error=reason)
        metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=1)
        logger.warning("image cannot be processed", reason=reason)
        return Outcome(media_item_id, ProcessingStatus.FAILED, tuple(made), reason)
    except Exception as error:
        reason = error.message if isinstance(error, AppError) else f"{type(error).__name__}: {error}"
        media_items.transition(item, ProcessingStatus.FAILED, error=reason)
        metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)
        logger.exception("processing failed; the queue will retry")
        raise

    _complete(item)
    metrics.add_metric(name="ItemsProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="DepthMapsMade", unit=MetricUnit.Count, value=len(made))
    return Outcome(media_item_id, ProcessingStatus.COMPLETED, tuple(made))


def _complete(item: MediaItem) -> None:
    try:
        media_items.transition(item, ProcessingStatus.COMPLETED)
    except media_items.StatusConflict:
        # A concurrent delivery of the same item finished first: the result is the same.
        if item.status != ProcessingStatus.COMPLETED.value:
            raise
