"""API Gateway events and Lambda contexts, built the way the local runner builds them."""

from __future__ import annotations

import json
from typing import Any

from immichvr_local.functions import LambdaContext
from immichvr_local.gateway import build_event
from immichvr_local.template import Route, Template

_ROUTES: list[Route] | None = None


def _routes() -> list[Route]:
    global _ROUTES  # noqa: PLW0603 - parsed once per test session
    if _ROUTES is None:
        _ROUTES = Template.load().routes()
    return _ROUTES


def api_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
) -> dict[str, Any]:
    """The REST proxy event API Gateway would send for this request (route from template.yaml)."""
    for route in _routes():
        params = route.match(method, path)
        if params is not None:
            break
    else:
        raise AssertionError(f"template.yaml has no route for {method} {path}")
    raw_path = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    body = json.dumps(json_body).encode() if json_body is not None else b""
    all_headers = {"Content-Type": "application/json"} | (headers or {})
    return build_event(method, raw_path, all_headers, body, route, params, "127.0.0.1")


def lambda_context(name: str = "test-function") -> LambdaContext:
    return LambdaContext(name)
