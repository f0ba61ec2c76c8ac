"""SQS-triggered: make the depth maps of each queued media item (then the derivatives the deployment
premakes), or one derivative too large to make within an API request; failures reported per message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.depth.backends import (
    async_backend_from_settings,
    backend_from_settings,
    submits_asynchronously,
)
from immichvr_depth.depth.processing import process_media_item, submit_media_item
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.serving import derivatives
from immichvr_depth.store.processing_queue import ProcessingMessage

# A batch whose every record failed is reported like any other: the failures go back to the queue.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def handle_record(record: SQSRecord) -> None:
    message = ProcessingMessage.from_json(record.body)
    logger.append_keys(
        message_id=record.message_id, receive_count=record.attributes.approximate_receive_count
    )
    if message.derivative is not None:
        derivatives.make_queued(message.media_item_id, dict(message.derivative))
        return
    # In async mode the answer comes later, to the completion function; the Lambda backend is always
    # synchronous.
    if submits_asynchronously():
        outcome = submit_media_item(message.media_item_id, async_backend_from_settings(), message.regenerate)
    else:
        outcome = process_media_item(message.media_item_id, backend_from_settings(), message.regenerate)
    logger.info("media item processed", status=outcome.status.value, made=[v.value for v in outcome.made])
    derivatives.premake(message.media_item_id, outcome.made)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
