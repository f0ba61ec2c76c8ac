"""Immich: reading asset metadata and downloading previews and originals with an API key."""

from immichvr_depth.immich.assets import ImmichAsset
from immichvr_depth.immich.client import ImmichClient
from immichvr_depth.immich.downloads import Download
from immichvr_depth.immich.errors import (
    ImmichAssetNotFound,
    ImmichAuthError,
    ImmichDownloadTooLarge,
    ImmichServerError,
    ImmichUnavailable,
    ImmichUpstreamError,
)

__all__ = [
    "Download",
    "ImmichAsset",
    "ImmichAssetNotFound",
    "ImmichAuthError",
    "ImmichClient",
    "ImmichDownloadTooLarge",
    "ImmichServerError",
    "ImmichUnavailable",
    "ImmichUpstreamError",
]
