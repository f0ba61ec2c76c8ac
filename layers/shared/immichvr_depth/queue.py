"""Putting media items on the processing queue."""

from __future__ import annotations

from collections.abc import Mapping

from immichvr_depth import aws
from immichvr_depth.messages import ProcessingMessage
from immichvr_depth.settings import get_settings
from immichvr_depth.versions import VersionType


def enqueue_processing(media_item_id: str, regenerate: Mapping[VersionType, int] | None = None) -> str:
    """Queue a media item for depth processing (and the regeneration of the versions named, each
    with the generation it replaces); returns the SQS message id."""
    response = aws.sqs().send_message(
        QueueUrl=get_settings().processing_queue_url,
        MessageBody=ProcessingMessage(media_item_id, dict(regenerate or {})).to_json(),
    )
    return response["MessageId"]
