"""The depth-map versions of a media item: three resolution tiers, which of them a deployment makes,
their sizes, and the order in which they are made.

- `thumbnail`: made from the small preview (Immich's, or ours for an upload): the viewer's first paint.
- `preview`: made from the original at a long side of PREVIEW_LONG_SIDE (3,072 by default), never
  enlarged: about what a headset shows per eye, the tier a VR viewer loads.
- `full_resolution`: the original's own size.

A photo whose long side is at most the preview's gets no preview map when full resolution is made:
full resolution is then already that small, and its larger model input keeps more detail. Its preview
is served by the full-resolution map."""

from __future__ import annotations

from enum import StrEnum

from immichvr_depth.platform.errors import InvalidRequest
from immichvr_depth.platform.settings import get_settings


class VersionType(StrEnum):
    """The tiers, small to large: the order maps are made in and listed in."""

    THUMBNAIL = "thumbnail"
    PREVIEW = "preview"
    FULL_RESOLUTION = "full_resolution"


def enabled() -> tuple[VersionType, ...]:
    """The tiers this deployment makes (DEPTH_TIERS), small to large."""
    named = set(get_settings().depth_tiers)
    return tuple(version for version in VersionType if version.value in named)


def require_enabled(version: VersionType) -> VersionType:
    """`version` if this deployment makes it; InvalidRequest naming the tiers it makes otherwise."""
    tiers = enabled()
    if version not in tiers:
        raise InvalidRequest(
            f"version must be one of: {', '.join(tier.value for tier in tiers)}",
            version=version.value,
        )
    return version


def preview_shared(long_side: int | None) -> bool:
    """Whether a photo of this long side has its preview served by its full-resolution map. A photo
    of unknown size (the import and the ingest record every size they can read) is taken as small:
    the full-resolution map it gets anyway serves every tier above the thumbnail."""
    return VersionType.FULL_RESOLUTION in enabled() and (
        long_side is None or long_side <= get_settings().preview_long_side
    )


def served_by(version: VersionType, long_side: int | None) -> VersionType:
    """The tier whose map answers for `version` of a photo of this long side."""
    if version is VersionType.PREVIEW and preview_shared(long_side):
        return VersionType.FULL_RESOLUTION
    return version


def versions_to_process(has_thumbnail: bool, long_side: int | None = None) -> list[VersionType]:
    """The tiers to make for a photo, small to large, so a viewer gets the thumbnail first. A photo
    without a stored preview has no thumbnail tier."""
    return [
        version
        for version in enabled()
        if (version is not VersionType.THUMBNAIL or has_thumbnail)
        and not (version is VersionType.PREVIEW and preview_shared(long_side))
    ]


def input_size(version: VersionType) -> int:
    """The model's input (short side, a multiple of 14) for the tier."""
    settings = get_settings()
    return {
        VersionType.THUMBNAIL: settings.thumbnail_input_size,
        VersionType.PREVIEW: settings.preview_input_size,
        VersionType.FULL_RESOLUTION: settings.full_resolution_input_size,
    }[version]


def map_size(version: VersionType, source_size: tuple[int, int]) -> tuple[int, int]:
    """The pixel size of the tier's map (and photo) for a source of `source_size` shown upright:
    the source's own, except the preview's, scaled to its long side and never enlarged."""
    if version is not VersionType.PREVIEW:
        return source_size
    width, height = source_size
    scale = min(1.0, get_settings().preview_long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))
