"""Scheduled (EventBridge): queue the import of every Immich photo added since the last run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.intake.immich import ImmichClient
from immichvr_depth.intake.sync import run_sync
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(schedule=",".join(event.get("resources") or []) or None)
    settings = get_settings()
    if not settings.immich_url:
        logger.warning("immich sync skipped: no Immich URL configured (ImmichUrl / IMMICH_URL)")
        return {"skipped": True, "queued": 0}
    with ImmichClient.from_settings(settings) as client:
        result = run_sync(client, settings)
    metrics.add_metric(name="SyncImportsQueued", unit="Count", value=result.queued)
    return {
        "skipped": False,
        "since": result.since.isoformat(),
        "cursor": result.cursor.isoformat(),
        "found": result.found,
        "queued": result.queued,
        "cursorMoved": result.cursor_moved,
    }
