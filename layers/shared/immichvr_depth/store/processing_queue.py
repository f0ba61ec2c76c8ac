"""The processing queue: the message that asks for an item's depth maps, and putting it on the queue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidRequest
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.versions import VersionType

# How often the processing queue delivers a message before its dead-letter queue takes it: the
# template's RedrivePolicy maxReceiveCount (a template test checks they agree). An item's processing
# attempts are counted against it.
MAX_RECEIVES = 3


@dataclass(frozen=True)
class ProcessingMessage:
    """Make every missing depth map of the item, and replace the versions in `regenerate`.

    `regenerate` maps a version to the generation this request replaces: a delivery that finds the
    version's record already past that generation skips it, so a redelivered or duplicated request
    never regenerates twice."""

    media_item_id: str
    regenerate: Mapping[VersionType, int] = field(default_factory=dict)
    # Set instead: make this derivative of the item (the serving flow's job, opaque here), too large
    # to make within an API request.
    derivative: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        payload: dict[str, Any] = {"mediaItemId": self.media_item_id}
        if self.regenerate:
            payload["regenerate"] = {version.value: gen for version, gen in self.regenerate.items()}
        if self.derivative is not None:
            payload["derivative"] = dict(self.derivative)
        return json.dumps(payload)

    @classmethod
    def from_json(cls, body: str) -> ProcessingMessage:
        try:
            payload = json.loads(body)
            media_item_id = payload["mediaItemId"]
        except (ValueError, TypeError, KeyError) as error:
            raise InvalidRequest(f"not a processing message: {error}") from error
        if not isinstance(media_item_id, str) or not media_item_id:
            raise InvalidRequest("processing message has no mediaItemId")
        derivative = payload.get("derivative")
        if derivative is not None and not isinstance(derivative, dict):
            raise InvalidRequest("processing message's derivative is not an object")
        return cls(media_item_id, _regenerate(payload.get("regenerate")), derivative)


def _regenerate(raw: Any) -> dict[VersionType, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("processing message's regenerate is not an object")
    parsed: dict[VersionType, int] = {}
    for version, generation in raw.items():
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise InvalidRequest(f"processing message names no generation for {version!r}")
        try:
            parsed[VersionType(version)] = generation
        except ValueError:
            raise InvalidRequest(f"processing message names an unknown version {version!r}") from None
    return parsed


def enqueue_processing(media_item_id: str, regenerate: Mapping[VersionType, int] | None = None) -> str:
    """Queue a media item for depth processing (and the regeneration of the versions named, each
    with the generation it replaces); returns the SQS message id."""
    response = aws.sqs().send_message(
        QueueUrl=get_settings().processing_queue_url,
        MessageBody=ProcessingMessage(media_item_id, dict(regenerate or {})).to_json(),
    )
    return response["MessageId"]


def enqueue_derivative(media_item_id: str, job: Mapping[str, Any]) -> str:
    """Queue the processor to make one derivative of the item; returns the SQS message id."""
    response = aws.sqs().send_message(
        QueueUrl=get_settings().processing_queue_url,
        MessageBody=ProcessingMessage(media_item_id, derivative=job).to_json(),
    )
    return response["MessageId"]
