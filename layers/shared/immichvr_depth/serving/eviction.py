"""Evicting large depth maps nobody has read for a while, to save their storage.

Only the tiers EVICTABLE_TIERS names are evicted (full resolution by default; thumbnails should never
be: they are small and the viewer's first paint). A map is idle when neither read nor made for
`days` days. It is first marked evicted with a conditional write that holds only while it is still
idle (a read meanwhile updates `accessed_at` and wins), then its file and its derivatives are
deleted. A later read of it queues its regeneration (see regeneration.py).

Candidates are found with a Scan and a filter over the depth-map table: one read of the whole table
per run, which is cheap for a personal library (thousands of items); a very large deployment would
add a sparse index instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, objects
from immichvr_depth.store.keys import map_derivatives_prefix
from immichvr_depth.store.tables import DepthMapRecord, utcnow
from immichvr_depth.store.versions import VersionType


@dataclass(frozen=True)
class EvictionReport:
    idle_since: datetime | None
    candidates: int = 0
    evicted: int = 0
    bytes_evicted: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "idleSince": self.idle_since.isoformat() if self.idle_since else None,
            "candidates": self.candidates,
            "evicted": self.evicted,
            "bytesEvicted": self.bytes_evicted,
        }


def evictable() -> tuple[VersionType, ...]:
    """The tiers whose unread maps are evicted (EVICTABLE_TIERS; full resolution by default)."""
    named = set(get_settings().evictable_tiers)
    return tuple(version for version in VersionType if version.value in named)


def idle_maps(idle_since: datetime) -> list[DepthMapRecord]:
    """Maps of the evictable tiers, not evicted, neither made nor read since `idle_since`."""
    condition = (
        DepthMapRecord.version_type.is_in(*(version.value for version in evictable()))
        & DepthMapRecord.evicted_at.does_not_exist()
        & (DepthMapRecord.generated_at < idle_since)
        & (DepthMapRecord.accessed_at.does_not_exist() | (DepthMapRecord.accessed_at < idle_since))
    )
    return list(DepthMapRecord.scan(filter_condition=condition, page_size=200))


def evict_idle(days: int, now: datetime | None = None) -> EvictionReport:
    """Evict every map of the evictable tiers idle for `days` days (0 or less: eviction is off)."""
    if days <= 0:
        logger.info("eviction is off (EvictAfterDays is 0)")
        return EvictionReport(idle_since=None)
    idle_since = (now or utcnow()) - timedelta(days=days)
    candidates = idle_maps(idle_since)
    evicted = bytes_evicted = 0
    for record in candidates:
        if not depth_maps.mark_evicted(record, idle_since):
            logger.info(
                "depth map read or replaced meanwhile; kept",
                media_item_id=record.media_item_id,
                version=record.version.value,
            )
            continue
        depth_maps.delete_file(record.file_path)
        objects.delete_under(
            map_derivatives_prefix(record.media_item_id, record.version, int(record.generation))
        )
        evicted += 1
        bytes_evicted += int(record.file_size)
        logger.info(
            "depth map evicted",
            media_item_id=record.media_item_id,
            version=record.version.value,
            generation=record.generation,
            file_path=record.file_path,
            bytes=int(record.file_size),
            last_used=(record.accessed_at or record.generated_at).isoformat(),
        )
    metrics.add_metric(name="DepthMapsEvicted", unit=MetricUnit.Count, value=evicted)
    metrics.add_metric(name="BytesEvicted", unit=MetricUnit.Bytes, value=bytes_evicted)
    logger.info(
        "eviction finished",
        idle_since=idle_since.isoformat(),
        candidates=len(candidates),
        evicted=evicted,
        bytes_evicted=bytes_evicted,
    )
    return EvictionReport(idle_since, len(candidates), evicted, bytes_evicted)
