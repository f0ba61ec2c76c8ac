"""Putting media items on the processing queue."""

from __future__ import annotations

from immichvr_depth import aws
from immichvr_depth.messages import ProcessingMessage
from immichvr_depth.settings import get_settings


def enqueue_processing(media_item_id: str) -> str:
    """Queue a media item for depth processing; returns the SQS message id."""
    response = aws.sqs().send_message(
        QueueUrl=get_settings().processing_queue_url,
        MessageBody=ProcessingMessage(media_item_id).to_json(),
    )
    return response["MessageId"]
