"""The depth-map versions of a media item and the order in which they are made."""

from __future__ import annotations

from enum import StrEnum


class VersionType(StrEnum):
    THUMBNAIL = "thumbnail"
    FULL_RESOLUTION = "full_resolution"

    @classmethod
    def parse(cls, raw: str | None) -> VersionType:
        """The version a client asked for; full resolution when it named none."""
        if raw is None or raw == "":
            return cls.FULL_RESOLUTION
        try:
            return cls(raw)
        except ValueError:
            raise ValueError(f"version must be one of: {', '.join(v.value for v in cls)}") from None


def versions_to_process(has_thumbnail: bool) -> list[VersionType]:
    """Thumbnail first (a quick preview for the viewer), then full resolution."""
    if has_thumbnail:
        return [VersionType.THUMBNAIL, VersionType.FULL_RESOLUTION]
    return [VersionType.FULL_RESOLUTION]
