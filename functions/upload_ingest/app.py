"""S3 ObjectCreated under uploads/: record the file as a media item, make its thumbnail, queue it."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.intake.upload_ingest import ingest_upload
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.store.keys import UPLOADS_PREFIX


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    if event.get("Event") == "s3:TestEvent":
        logger.info("S3 test event ignored")
        return {"ingested": []}
    outcomes = []
    for record in event.records:
        key = unquote_plus(record.s3.get_object.key)  # S3 sends keys URL-encoded, spaces as '+'

        if not key.startswith(UPLOADS_PREFIX):
            logger.warning("object outside the upload prefix ignored", key=key)
            continue
        outcome = ingest_upload(key, record.s3.get_object.etag or "")
        outcomes.append({"mediaItemId": outcome.media_item_id, "status": outcome.status})
    return {"ingested": outcomes}
