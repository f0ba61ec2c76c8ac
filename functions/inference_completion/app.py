"""SQS-triggered: SageMaker's asynchronous inference notifications (via SNS, raw delivery) store each
answer as a depth map and finish the media item, reporting failures per message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.depth.async_inference import Notification
from immichvr_depth.depth.completion import Result, handle_notification
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.serving import derivatives

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def handle_record(record: SQSRecord) -> None:
    logger.append_keys(
        message_id=record.message_id, receive_count=record.attributes.approximate_receive_count
    )
    completion = handle_notification(Notification.from_json(record.body))
    logger.info("inference notification handled", result=completion.result.value, reason=completion.reason)
    if completion.result is Result.STORED and completion.media_item_id and completion.version:
        derivatives.premake(completion.media_item_id, [completion.version])


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
