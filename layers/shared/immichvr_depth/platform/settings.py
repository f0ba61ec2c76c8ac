"""Settings read from the environment, the one place that knows their names and defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

MIB = 1024 * 1024


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def _names(raw: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    media_bucket: str
    media_table: str
    depth_maps_table: str
    processing_queue_url: str
    immich_url: str
    immich_api_key_parameter: str
    immich_api_key: str
    immich_connect_timeout_s: float
    immich_read_timeout_s: float
    max_download_bytes: int
    depth_backend: str
    sagemaker_endpoint_name: str
    depth_model: str
    thumbnail_input_size: int
    full_resolution_input_size: int
    presigned_url_ttl_s: int
    max_inline_response_bytes: int
    cors_allow_origin: str
    max_upload_bytes: int
    thumbnail_long_side: int
    # "realtime": the processor waits for the endpoint; "async": it submits to an asynchronous
    # endpoint and the inference completion function stores the answers.
    inference_mode: str = "realtime"
    # DEPTH_BACKEND=lambda: the depth inference function the processor invokes synchronously.
    depth_inference_function_name: str = ""
    # Regenerate and evict: full-resolution maps unread this many days are evicted (0: never).
    evict_after_days: int = 0
    regenerate_retry_after_s: int = 30
    # Immich automation (webhook, import queue, scheduled sync).
    import_queue_url: str = ""
    immich_webhook_secret: str = ""
    immich_webhook_secret_parameter: str = ""
    immich_sync_state_table: str = "immichvr-immich-sync-state"
    immich_sync_album_ids: tuple[str, ...] = ()
    immich_sync_interval_minutes: int = 15
    import_retry_base_delay_s: int = 30
    # Derivatives (browser photos, 8-bit maps, stereo pairs): which to make right after each map
    # (names as PREMADE_DERIVATIVES lists them), and above what photo size a stereo pair is made by
    # the processor instead of within the request (bench/derivatives.py sizes it).
    premade_derivatives: tuple[str, ...] = ()
    # Resolution tiers (store/versions.py): which are made, the preview's long side and model input.
    depth_tiers: tuple[str, ...] = ("thumbnail", "preview", "full_resolution")
    preview_long_side: int = 3072
    preview_input_size: int = 770
    # The tiers an unread map may be evicted from (EVICT_AFTER_DAYS).
    evictable_tiers: tuple[str, ...] = ("full_resolution",)
    derivative_inline_max_megapixels: float = 50.0

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            media_bucket=env("MEDIA_BUCKET", ""),
            media_table=env("MEDIA_TABLE", "immichvr-media-items"),
            depth_maps_table=env("DEPTH_MAPS_TABLE", "immichvr-depth-maps"),
            processing_queue_url=env("PROCESSING_QUEUE_URL", ""),
            immich_url=env("IMMICH_URL", "").rstrip("/"),
            immich_api_key_parameter=env("IMMICH_API_KEY_PARAMETER", ""),
            immich_api_key=env("IMMICH_API_KEY", ""),
            immich_connect_timeout_s=_float("IMMICH_CONNECT_TIMEOUT_S", 5.0),
            immich_read_timeout_s=_float("IMMICH_READ_TIMEOUT_S", 30.0),
            max_download_bytes=_int("MAX_DOWNLOAD_BYTES", 200 * MIB),
            depth_backend=env("DEPTH_BACKEND", "sagemaker"),
            sagemaker_endpoint_name=env("SAGEMAKER_ENDPOINT_NAME", ""),
            depth_model=env("DEPTH_MODEL", ""),
            thumbnail_input_size=_int("THUMBNAIL_INPUT_SIZE", 518),
            full_resolution_input_size=_int("FULL_RESOLUTION_INPUT_SIZE", 1036),
            presigned_url_ttl_s=_int("PRESIGNED_URL_TTL_S", 300),
            # API Gateway and Lambda cap a response at 6 MB; base64 grows a body by a third.
            max_inline_response_bytes=_int("MAX_INLINE_RESPONSE_BYTES", 4 * MIB),
            cors_allow_origin=env("CORS_ALLOW_ORIGIN", "*"),
            max_upload_bytes=_int("MAX_UPLOAD_BYTES", 200 * MIB),
            thumbnail_long_side=_int("THUMBNAIL_LONG_SIDE", 1440),
            inference_mode=env("INFERENCE_MODE", "") or "realtime",
            depth_inference_function_name=env("DEPTH_INFERENCE_FUNCTION_NAME", ""),
            evict_after_days=_int("EVICT_AFTER_DAYS", 0),
            regenerate_retry_after_s=_int("REGENERATE_RETRY_AFTER_S", 30),
            import_queue_url=env("IMPORT_QUEUE_URL", ""),
            immich_webhook_secret=env("IMMICH_WEBHOOK_SECRET", ""),
            immich_webhook_secret_parameter=env("IMMICH_WEBHOOK_SECRET_PARAMETER", ""),
            immich_sync_state_table=env("IMMICH_SYNC_STATE_TABLE", "") or "immichvr-immich-sync-state",
            immich_sync_album_ids=_names(env("IMMICH_SYNC_ALBUM_IDS", "")),
            immich_sync_interval_minutes=_int("IMMICH_SYNC_INTERVAL_MINUTES", 15),
            import_retry_base_delay_s=_int("IMPORT_RETRY_BASE_DELAY_S", 30),
            premade_derivatives=_names(env("PREMADE_DERIVATIVES", "")),
            depth_tiers=_names(env("DEPTH_TIERS", "")) or ("thumbnail", "preview", "full_resolution"),
            preview_long_side=_int("PREVIEW_LONG_SIDE", 3072),
            preview_input_size=_int("PREVIEW_INPUT_SIZE", 770),
            evictable_tiers=_names(env("EVICTABLE_TIERS", "")) or ("full_resolution",),
            derivative_inline_max_megapixels=_float("DERIVATIVE_INLINE_MAX_MEGAPIXELS", 50.0),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
