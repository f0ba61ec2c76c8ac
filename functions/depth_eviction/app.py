"""Scheduled: evict full-resolution depth maps nobody has read for EvictAfterDays days."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving.eviction import evict_idle


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.info("eviction run", trigger=event.get("detail-type"), scheduled_at=event.get("time"))
    return evict_idle(get_settings().evict_after_days).to_dict()
