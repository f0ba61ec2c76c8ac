"""Immich's own OpenAPI documents, loaded for validation in tests.

The documents are Immich's (AGPL), so they are read from the shared folder next to the repository and
never copied into it; tests that need them skip when that folder is absent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT.parent / "shared" / "immich-openapi"
SPEC_VERSIONS = ("1.137.0", "2.7.5", "3.1.0")


def spec_path(version: str) -> Path:
    return SPEC_DIR / f"immich-openapi-{version}.json"


def spec_available(version: str) -> bool:
    return spec_path(version).is_file()


def load_spec_dict(version: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(spec_path(version).read_text(encoding="utf-8"))
    # Immich's generator puts "in": "header" on the http bearer scheme, which OpenAPI 3.0 does not
    # allow there; strict validators refuse the whole document for it.
    bearer = spec.get("components", {}).get("securitySchemes", {}).get("bearer", {})
    bearer.pop("in", None)
    return spec


@cache
def openapi(version: str) -> Any:
    """An ``openapi_core.OpenAPI`` for the version, built once per process.

    Checking the whole document against the OpenAPI meta-schema takes two seconds a version and tells
    us nothing about our traffic, so it is skipped here; ``test_fake_immich`` checks the one known
    defect of the documents (the stray bearer key) on its own.
    """
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_dict(load_spec_dict(version), config=Config(spec_validator_cls=None))


def versions_with_spec() -> list[Any]:
    """``SPEC_VERSIONS`` as pytest params, each skipped when its document is absent."""
    import pytest

    return [
        pytest.param(
            version,
            marks=pytest.mark.skipif(
                not spec_available(version), reason=f"no Immich {version} OpenAPI document"
            ),
        )
        for version in SPEC_VERSIONS
    ]


@dataclass(frozen=True)
class DeclaredBinaryResponse:
    """A file response as Immich's document declares it: Immich declares every file endpoint as
    ``application/octet-stream`` although the server sends the real type (image/jpeg, image/webp,
    video/mp4), so the response is checked with the declared type instead."""

    status_code: int
    headers: Mapping[str, str]
    data: bytes | None
    content_type: str = "application/octet-stream"


def validate_exchange(version: str, response: requests.Response, body: bytes | None = None) -> None:
    """Validate the request behind ``response`` and, for a success, the response against ``version``.

    ``body`` is the file a streamed download delivered (the response's own stream is consumed by then).
    Immich's documents declare no 4xx answers, so error responses are not validated here; the tests
    check their bodies instead.
    """
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    spec = openapi(version)
    request = RequestsOpenAPIRequest(response.request)
    spec.validate_request(request)
    if response.status_code >= 300:
        return
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if media_type == "application/json":
        spec.validate_response(request, RequestsOpenAPIResponse(response))
        return
    assert media_type.startswith(("image/", "video/")), f"unexpected file type {media_type!r}"
    if body is None:
        body = response.content  # only possible when nobody streamed it
    spec.validate_response(
        request, DeclaredBinaryResponse(response.status_code, dict(response.headers), body)
    )
