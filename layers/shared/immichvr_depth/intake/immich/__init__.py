"""Immich: reading asset metadata, searching assets and albums, downloading previews and originals."""

from immichvr_depth.intake.immich.assets import ImmichAlbum, ImmichAsset
from immichvr_depth.intake.immich.client import ImmichClient
from immichvr_depth.intake.immich.downloads import Download
from immichvr_depth.intake.immich.errors import (
    ImmichAlbumNotFound,
    ImmichAssetNotFound,
    ImmichAuthError,
    ImmichDownloadTooLarge,
    ImmichPreviewNotReady,
    ImmichServerError,
    ImmichUnavailable,
    ImmichUpstreamError,
)

__all__ = [
    "Download",
    "ImmichAlbum",
    "ImmichAlbumNotFound",
    "ImmichAsset",
    "ImmichAssetNotFound",
    "ImmichAuthError",
    "ImmichClient",
    "ImmichDownloadTooLarge",
    "ImmichPreviewNotReady",
    "ImmichServerError",
    "ImmichUnavailable",
    "ImmichUpstreamError",
]
