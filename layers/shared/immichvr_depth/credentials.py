"""The Immich API key: from SSM Parameter Store (SecureString) when deployed, cached by Powertools."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from immichvr_depth.errors import UpstreamError
from immichvr_depth.settings import Settings

CACHE_SECONDS = 300


def immich_api_key(settings: Settings) -> str:
    # A key given directly (the local runner) wins; the deployed functions only know the parameter name.
    if settings.immich_api_key:
        return settings.immich_api_key
    if not settings.immich_api_key_parameter:
        raise UpstreamError("no Immich API key configured: set IMMICH_API_KEY_PARAMETER or IMMICH_API_KEY")
    value = parameters.get_parameter(settings.immich_api_key_parameter, decrypt=True, max_age=CACHE_SECONDS)
    return str(value)
