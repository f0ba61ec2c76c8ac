"""API Gateway events and Lambda contexts, built the way the local runner builds them."""

from __future__ import annotations

import importlib
import json
from typing import Any

from immichvr_local.functions import LambdaContext
from immichvr_local.gateway import build_event
from immichvr_local.template import Route, Template

_ROUTES: list[Route] | None = None
_TEMPLATE: Template | None = None


def _template() -> Template:
    global _TEMPLATE  # noqa: PLW0603 - parsed once per test session
    if _TEMPLATE is None:
        _TEMPLATE = Template.load()
    return _TEMPLATE


def _routes() -> list[Route]:
    global _ROUTES  # noqa: PLW0603 - parsed once per test session
    if _ROUTES is None:
        _ROUTES = _template().routes()
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


def invoke_api(method: str, path: str, **request: Any) -> dict[str, Any]:
    """The request answered by whichever function template.yaml routes it to, as API Gateway invokes
    it (the handler's module as imported by the tests, so monkeypatching it takes effect)."""
    event = api_event(method, path, **request)
    route = next(route for route in _routes() if route.match(method, path) is not None)
    spec = _template().function(route.function)
    handler = getattr(importlib.import_module(spec.module), spec.handler.rsplit(".", 1)[1])
    response: dict[str, Any] = handler(event, lambda_context(route.function))
    return response
