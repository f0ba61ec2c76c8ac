"""Secrets (the Immich API key, the webhook's shared secret): from SSM Parameter Store (SecureString)
when deployed, cached by Powertools; given directly by the local runner."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from immichvr_depth.platform.errors import UpstreamError
from immichvr_depth.platform.settings import Settings

CACHE_SECONDS = 300


def read_secret(direct: str, parameter_name: str) -> str | None:
    """The secret given directly (the local runner) or else the SecureString `parameter_name` names
    (the deployed functions only know the name); None when neither is configured. Raises Powertools'
    GetParameterError when the parameter cannot be read."""
    if direct:
        return direct
    if not parameter_name:
        return None
    return str(parameters.get_parameter(parameter_name, decrypt=True, max_age=CACHE_SECONDS))


def immich_api_key(settings: Settings) -> str:
    key = read_secret(settings.immich_api_key, settings.immich_api_key_parameter)
    if key is None:
        raise UpstreamError("no Immich API key configured: set IMMICH_API_KEY_PARAMETER or IMMICH_API_KEY")
    return key
