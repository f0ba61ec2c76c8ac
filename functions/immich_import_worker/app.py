"""SQS-triggered: import each queued Immich asset, retrying later what may yet succeed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.intake.immich import ImmichClient
from immichvr_depth.intake.import_queue import ImportMessage, ImportOutcome, import_queued_asset
from immichvr_depth.platform.errors import InvalidRequest
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
METRICS = {
    ImportOutcome.IMPORTED: "AssetsImported",
    ImportOutcome.ALREADY_IMPORTED: "ImportsAlreadyDone",
    ImportOutcome.DROPPED: "ImportsDropped",
}


def handle_record(record: SQSRecord) -> None:
    # Lambda always sends the count; a hand-made event may not.
    receive_count = int(record.raw_event.get("attributes", {}).get("ApproximateReceiveCount") or 1)
    logger.append_keys(message_id=record.message_id, receive_count=receive_count)
    try:
        message = ImportMessage.from_json(record.body)
    except InvalidRequest as error:
        logger.warning("import message dropped: unreadable", reason=error.message)
        metrics.add_metric(name=METRICS[ImportOutcome.DROPPED], unit="Count", value=1)
        return
    logger.append_keys(immich_asset_id=message.asset_id)
    settings = get_settings()
    with ImmichClient.from_settings(settings) as client:
        outcome = import_queued_asset(
            message, client, receipt_handle=record.receipt_handle, receive_count=receive_count
        )
    metrics.add_metric(name=METRICS[outcome], unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
