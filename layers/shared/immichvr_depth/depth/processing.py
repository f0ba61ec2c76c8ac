"""Making the depth maps of one media item, tier by tier, small to large (store/versions.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit
from pynamodb.expressions.update import Action

from immichvr_depth.depth import async_inference
from immichvr_depth.depth.backends import AsyncDepthBackend, DepthBackend, DepthPrediction
from immichvr_depth.imaging import ModelInput, fit_depth_png, prepare_model_input
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import AppError, InvalidImage, NotFound
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items, versions
from immichvr_depth.store.depth_maps import DepthMapFile
from immichvr_depth.store.keys import depth_map_key
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from immichvr_depth.store.versions import VersionType


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
class ProcessingOutcome:
    media_item_id: str
    status: ProcessingStatus
    made: tuple[VersionType, ...] = ()
    reason: str | None = None


def _source_key(item: MediaItem, version: VersionType) -> str:
    key = media_items.source_key(item, version)
    if not key:
        raise InvalidImage(f"media item has no stored file for the {version.value} version")
    return key


@dataclass(frozen=True)
class PreparedInput:
    """A version's source image made ready for the model, and what storing its answer needs."""

    version: VersionType
    input_size: int
    model_input: ModelInput

    @property
    def map_size(self) -> tuple[int, int]:
        """The size the version's map is stored at: its source's upright size, or the preview's."""
        return versions.map_size(self.version, self.model_input.oriented_size)


def prepare_input(item: MediaItem, version: VersionType) -> PreparedInput:
    input_size = versions.input_size(version)
    with _stage("Download"):
        source = aws.s3().get_object(Bucket=get_settings().media_bucket, Key=_source_key(item, version))
        data = source["Body"].read()
    with _stage("Prepare"):
        model_input = prepare_model_input(data, short_side=input_size)
    return PreparedInput(version=version, input_size=input_size, model_input=model_input)


def store_prediction(
    item: MediaItem,
    version: VersionType,
    map_size: tuple[int, int],
    prediction: DepthPrediction,
    replacing: int | None = None,
) -> None:
    """Fit the model's answer to the photo as displayed and store it as the version's depth map:
    a new one, or, with `replacing`, the next generation of the map at that generation.
    Raises depth_maps.ItemGone when the item was deleted meanwhile (nothing is left stored)."""
    generation = 0 if replacing is None else replacing + 1
    with _stage("Postprocess"):
        fitted = fit_depth_png(prediction.png, map_size)
    with _stage("Store"):
        made = DepthMapFile(
            media_item_id=item.media_item_id,
            version=version,
            key=depth_map_key(item.media_item_id, item.filename, version, generation),
            body=fitted.body,
            width=fitted.width,
            height=fitted.height,
            sha256=fitted.sha256,
            model_name=prediction.model_name,
            model_version=prediction.model_version,
            input_size=prediction.input_size,
            generation=generation,
        )
        if replacing is None:
            depth_maps.store(made)
        else:
            depth_maps.replace(made, replacing)
    logger.info(
        "depth map stored",
        version=version.value,
        generation=generation,
        width=fitted.width,
        height=fitted.height,
        bytes=len(fitted.body),
    )


def make_depth_map(
    item: MediaItem, version: VersionType, backend: DepthBackend, replacing: int | None = None
) -> None:
    prepared = prepare_input(item, version)
    with _stage("Inference"):
        prediction = backend.estimate(
            prepared.model_input.body, prepared.model_input.content_type, prepared.input_size
        )
    store_prediction(item, version, prepared.map_size, prediction, replacing)


@dataclass(frozen=True)
class Work:
    """One version to make: missing (`replacing` None), or to regenerate from generation `replacing`."""

    version: VersionType
    replacing: int | None = None


def work_to_do(item: MediaItem, regenerate: Mapping[VersionType, int]) -> list[Work]:
    """The item's versions still to make, in order: those without a map, and those a regeneration
    asks for whose map is still at the generation it replaces. A map already past that generation
    was regenerated by an earlier delivery of the same request: it is skipped, and the replaced
    generation's file, which a crash may have left behind, is removed."""
    work: list[Work] = []
    for version in versions.versions_to_process(bool(item.thumbnail_path), media_items.long_side(item)):
        record = depth_maps.find(item.media_item_id, version)
        if record is None:
            work.append(Work(version))
        elif version in regenerate:
            replacing = regenerate[version]
            if record.generation == replacing:
                work.append(Work(version, replacing))
            elif record.generation > replacing:
                stale = depth_map_key(item.media_item_id, item.filename, version, replacing)
                if stale != record.file_path:
                    depth_maps.delete_file(stale)
    return work


def _gone(media_item_id: str, reason: str) -> ProcessingOutcome:
    logger.warning("media item deleted; dropping its message", reason=reason)
    return ProcessingOutcome(media_item_id, ProcessingStatus.FAILED, reason=reason)


@dataclass(frozen=True)
class _Started:
    item: MediaItem
    work: list[Work]


def _start(
    media_item_id: str,
    regenerate: Mapping[VersionType, int] | None,
    actions_for: Callable[[list[Work]], list[Action]] = lambda _: [],
) -> _Started | ProcessingOutcome:
    """Load the item and move it to `processing` (with `actions_for(work)` in the same write), or say
    why there is nothing to do: the item is gone or being deleted, or a duplicate delivery found it
    completed. A regeneration of a completed item goes round `queued` again."""
    logger.append_keys(media_item_id=media_item_id)
    try:
        item = media_items.get_item(media_item_id)
    except NotFound:
        logger.warning("media item no longer exists; dropping its message")
        return ProcessingOutcome(media_item_id, ProcessingStatus.FAILED, reason="media item not found")
    if item.status == ProcessingStatus.DELETING.value:
        return _gone(media_item_id, "media item is being deleted")
    work = work_to_do(item, regenerate or {})
    try:
        if item.status == ProcessingStatus.COMPLETED.value:
            if not work:
                logger.info("already completed; duplicate delivery ignored")
                return ProcessingOutcome(media_item_id, ProcessingStatus.COMPLETED)
            media_items.transition(item, ProcessingStatus.QUEUED)
        media_items.transition(item, ProcessingStatus.PROCESSING, *actions_for(work), count_attempt=True)
    except NotFound:
        return _gone(media_item_id, "media item was deleted meanwhile")
    except media_items.StatusConflict:
        if item.status == ProcessingStatus.DELETING.value:
            return _gone(media_item_id, "media item is being deleted")
        raise
    return _Started(item, work)


def _failed(
    item: MediaItem, error: Exception, made: tuple[VersionType, ...], *actions: Action
) -> ProcessingOutcome:
    """Fail the item with the error's reason. An image that cannot be decoded fails it for good
    (returned: retrying cannot help); anything else is raised again after the item is marked failed,
    so the queue retries it and, past the redrive limit, moves it to the dead-letter queue."""
    permanent = isinstance(error, InvalidImage)
    reason = error.message if isinstance(error, AppError) else f"{type(error).__name__}: {error}"
    try:
        media_items.transition(item, ProcessingStatus.FAILED, *actions, error=reason)
    except NotFound:
        return _gone(item.media_item_id, "media item was deleted while its depth maps were made")
    except media_items.StatusConflict:
        if item.status != ProcessingStatus.DELETING.value:
            raise
        return _gone(item.media_item_id, "media item is being deleted")
    if permanent:
        metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=1)
        logger.warning("image cannot be processed", reason=reason)
        return ProcessingOutcome(item.media_item_id, ProcessingStatus.FAILED, made, reason)
    metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)
    logger.exception("processing failed; the queue will retry")
    raise error


def process_media_item(
    media_item_id: str, backend: DepthBackend, regenerate: Mapping[VersionType, int] | None = None
) -> ProcessingOutcome:
    """Make every missing depth map of the item, and regenerate the versions in `regenerate`.

    An item being deleted is treated as gone: its message is dropped and nothing is written."""
    started = _start(media_item_id, regenerate)
    if isinstance(started, ProcessingOutcome):
        return started
    item = started.item
    made: list[VersionType] = []
    try:
        for step in started.work:
            make_depth_map(item, step.version, backend, step.replacing)
            made.append(step.version)
    except depth_maps.ItemGone:
        return _gone(media_item_id, "media item was deleted while its depth maps were made")
    except Exception as error:
        return _failed(item, error, tuple(made))

    complete_item(item)
    metrics.add_metric(name="DepthMapsMade", unit=MetricUnit.Count, value=len(made))
    return ProcessingOutcome(media_item_id, ProcessingStatus.COMPLETED, tuple(made))


def _pending(work: list[Work]) -> list[Action]:
    # Every version is recorded as pending before the first is submitted, so that a quick answer
    # for one cannot complete the item while another is still to be sent.
    pending = {step.version.value for step in work}
    return [MediaItem.pending_versions.set(pending) if pending else MediaItem.pending_versions.remove()]


def submit_media_item(
    media_item_id: str, backend: AsyncDepthBackend, regenerate: Mapping[VersionType, int] | None = None
) -> ProcessingOutcome:
    """Asynchronous inference: submit the versions `process_media_item` would make, in its order,
    and return without waiting. The item stays `processing` with the submitted versions in
    `pending_versions`; the inference completion function stores each answer and completes the item
    when none is left. Failures are handled as `process_media_item` handles them."""
    started = _start(media_item_id, regenerate, _pending)
    if isinstance(started, ProcessingOutcome):
        return started
    item, work = started.item, started.work
    if not work:
        complete_item(item)
        return ProcessingOutcome(media_item_id, ProcessingStatus.COMPLETED)

    try:
        for step in work:
            prepared = prepare_input(item, step.version)
            inference_id, token = async_inference.new_inference_id(media_item_id, step.version)
            context = async_inference.InvocationContext(
                media_item_id=media_item_id,
                version=step.version,
                oriented_size=prepared.map_size,
                input_size=prepared.input_size,
                inference_id=inference_id,
                replacing=step.replacing,
            )
            with _stage("Submit"):
                key = async_inference.submit(
                    context, prepared.model_input.body, prepared.model_input.content_type, token, backend
                )
            logger.info("submitted to the asynchronous endpoint", version=step.version.value, input_key=key)
    except Exception as error:
        return _failed(item, error, (), MediaItem.pending_versions.remove())
    metrics.add_metric(name="InferencesSubmitted", unit=MetricUnit.Count, value=len(work))
    return ProcessingOutcome(media_item_id, ProcessingStatus.PROCESSING)


def complete_item(item: MediaItem) -> bool:
    """Move a `processing` item whose last depth map is stored to `completed`; False when another
    writer settled it first (a concurrent delivery completed or failed it, or a delete began), whose
    outcome stands."""
    try:
        media_items.transition(item, ProcessingStatus.COMPLETED)
    except (media_items.StatusConflict, NotFound):
        logger.info("item settled by another writer; not completed here", status=item.status)
        return False
    metrics.add_metric(name="ItemsProcessed", unit=MetricUnit.Count, value=1)
    logger.info("every version stored; item completed")
    return True
