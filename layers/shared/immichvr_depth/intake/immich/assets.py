"""Immich's answers we use, read leniently: only the fields we need, whatever else a version adds.

Where each supported version keeps what we read (checked against the OpenAPI documents):

* ``type``, ``originalFileName``: required in 1.137, 2.x and 3.x.
* ``originalMimeType``: present in all three, but never declared required, so it has a fallback.
* ``isTrashed``, ``isOffline``: required booleans in all three (3.1 still has them; its
  ``visibility`` enum is unchanged). We still fall back to ``deletedAt`` for the trash, as Immich
  derives ``isTrashed`` from it and the sync API already exposes it that way.
* size: 1.137 only has ``exifInfo.exifImageWidth/Height`` (the pixels as stored, before the EXIF
  orientation); 2.x and 3.x add top-level ``width``/``height``, already swapped for a sideways
  orientation (``number`` in 2.x, ``integer`` in 3.x), and null until metadata extraction ran.
* ``exifInfo.orientation``: a nullable *string* (``"6"``) in every version.
* ``fileCreatedAt``: required in all three, the moment the photo was taken (UTC), and what search
  orders by; ``localDateTime`` is the photographer's wall clock written as if it were UTC.
* search answers carry ``exifInfo`` only with ``withExif``, which we never send: Immich makes it an
  inner join, so assets whose metadata is not read yet would drop out. So a 1.137 search gives no size.
"""

from __future__ import annotations

import math
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from immichvr_depth.intake.immich.errors import ImmichUpstreamError

# EXIF orientations that turn the image by 90 degrees: the displayed width is the stored height.
SIDEWAYS_ORIENTATIONS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class ImmichAsset:
    """One Immich asset, as far as depth maps care.

    ``width``/``height`` are the size as a viewer shows the asset (EXIF orientation applied), so they
    match the aspect ratio of Immich's preview, which is already upright. ``orientation`` is the
    EXIF orientation (1..8) of the original, which ``download_original`` returns unrotated;
    ``stored_size`` gives the original's pixels as stored. ``taken_at`` is Immich's ``fileCreatedAt``,
    None when unreadable.
    """

    id: str
    type: str
    original_file_name: str
    original_mime_type: str
    width: int | None
    height: int | None
    orientation: int | None
    is_trashed: bool
    is_offline: bool
    # Left out of equality: when a photo was taken is shown, never a reason to treat it differently.
    taken_at: datetime | None = field(default=None, compare=False)

    @property
    def is_image(self) -> bool:
        return self.type == "IMAGE"

    @property
    def stored_size(self) -> tuple[int, int] | None:
        """Width and height of the original file's pixels, before the EXIF orientation."""
        if self.width is None or self.height is None:
            return None
        if self.orientation in SIDEWAYS_ORIENTATIONS:
            return self.height, self.width
        return self.width, self.height


def parse_server_version(body: object) -> tuple[int, int, int]:
    if not isinstance(body, Mapping):
        raise ImmichUpstreamError("Immich's server version answer is not a JSON object")
    try:
        return int(body["major"]), int(body["minor"]), int(body["patch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ImmichUpstreamError(f"Immich's server version answer lacks a usable {exc}") from None


def parse_asset(body: object, asset_id: str) -> ImmichAsset:
    if not isinstance(body, Mapping):
        raise ImmichUpstreamError(
            f"Immich's answer for asset {asset_id} is not a JSON object", assetId=asset_id
        )
    asset_type = body.get("type")
    file_name = body.get("originalFileName")
    if not isinstance(asset_type, str) or not asset_type:
        raise ImmichUpstreamError(f"Immich's answer for asset {asset_id} has no type", assetId=asset_id)
    if not isinstance(file_name, str):
        raise ImmichUpstreamError(
            f"Immich's answer for asset {asset_id} has no originalFileName", assetId=asset_id
        )
    exif = body.get("exifInfo")
    exif = exif if isinstance(exif, Mapping) else {}
    orientation = _orientation(exif.get("orientation"))
    width, height = _displayed_size(body, exif, orientation)
    raw_id = body.get("id")
    return ImmichAsset(
        id=raw_id if isinstance(raw_id, str) and raw_id else asset_id,
        type=asset_type.upper(),
        original_file_name=file_name,
        original_mime_type=_mime_type(body.get("originalMimeType"), file_name),
        width=width,
        height=height,
        orientation=orientation,
        is_trashed=_trashed(body),
        is_offline=body.get("isOffline") is True,
        taken_at=_instant(body.get("fileCreatedAt")),
    )


def _instant(raw: object) -> datetime | None:
    """An Immich timestamp (``2024-01-15T19:30:00.000Z``) as an aware UTC datetime; None for junk.
    A time without an offset is read as UTC, as Immich stores every instant."""
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _trashed(body: Mapping[str, Any]) -> bool:
    flag = body.get("isTrashed")
    if isinstance(flag, bool):
        return flag
    return body.get("deletedAt") is not None


def _mime_type(raw: object, file_name: str) -> str:
    if isinstance(raw, str) and raw:
        return raw.split(";", 1)[0].strip().lower()
    guessed, _ = mimetypes.guess_type(file_name)
    return guessed or "application/octet-stream"


def _orientation(raw: object) -> int | None:
    """EXIF orientation 1..8; Immich stores it as a string and may hold junk from odd files."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float | str):
        try:
            value = int(str(raw).strip())
        except ValueError:
            return None
        return value if 1 <= value <= 8 else None
    return None


def _dimension(raw: object) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if not math.isfinite(raw) or raw <= 0:
        return None
    return round(raw)


def _displayed_size(
    body: Mapping[str, Any], exif: Mapping[str, Any], orientation: int | None
) -> tuple[int | None, int | None]:
    # 2.x/3.x: Immich already applied the orientation to these.
    width, height = _dimension(body.get("width")), _dimension(body.get("height"))
    if width is not None and height is not None:
        return width, height
    # 1.137 (or metadata not extracted into width/height yet): stored pixels, turned here.
    width, height = _dimension(exif.get("exifImageWidth")), _dimension(exif.get("exifImageHeight"))
    if width is None or height is None:
        return None, None
    if orientation in SIDEWAYS_ORIENTATIONS:
        return height, width
    return width, height


@dataclass(frozen=True)
class ImmichAlbum:
    """An album, as far as importing it cares. ``asset_count`` counts every kind of asset."""

    id: str
    name: str
    asset_count: int


def parse_album(body: object, album_id: str) -> ImmichAlbum:
    if not isinstance(body, Mapping):
        raise ImmichUpstreamError(
            f"Immich's answer for album {album_id} is not a JSON object", albumId=album_id
        )
    name = body.get("albumName")
    count = body.get("assetCount")
    raw_id = body.get("id")
    return ImmichAlbum(
        id=raw_id if isinstance(raw_id, str) and raw_id else album_id,
        name=name if isinstance(name, str) else "",
        asset_count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
    )


@dataclass(frozen=True)
class SearchPage:
    """One page of ``POST /search/metadata``: its assets and the next page's number, if any."""

    assets: list[ImmichAsset]
    next_page: int | None


def parse_search_page(body: object, page: int) -> SearchPage:
    """``{"assets": {"items": [...], "nextPage": "2" | null, ...}, "albums": {...}}`` in 1.137 to 3.x.

    ``nextPage`` is a string token; Immich makes it the next page number. One that does not move
    forward is refused rather than followed round in a loop."""
    assets = body.get("assets") if isinstance(body, Mapping) else None
    items = assets.get("items") if isinstance(assets, Mapping) else None
    if not isinstance(assets, Mapping) or not isinstance(items, list):
        raise ImmichUpstreamError("Immich's search answer has no assets.items list")
    parsed = []
    for item in items:
        asset_id = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(asset_id, str) or not asset_id:
            raise ImmichUpstreamError("Immich's search answer lists an asset without an id")
        parsed.append(parse_asset(item, asset_id))
    raw_next = assets.get("nextPage")
    try:
        next_page = int(str(raw_next)) if raw_next is not None else None
    except ValueError:
        raise ImmichUpstreamError(f"Immich's search answer has an unreadable nextPage {raw_next!r}") from None
    if next_page is not None and next_page <= page:
        raise ImmichUpstreamError(f"Immich's search answer for page {page} points back to page {next_page}")
    return SearchPage(assets=parsed, next_page=next_page)
