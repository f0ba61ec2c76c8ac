"""The 3D photo viewer: its page and assets, built from viewer/ into static/ beside this file (`make
viewer`; `sam build` runs it). Public like the API's docs: the files hold no data, and the page asks
the person for the API key it then sends with each call."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.platform.errors import NotFound
from immichvr_depth.platform.http import already_held, binary_response, build_resolver
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.static_site import CONTENT_SECURITY_POLICY, StaticFile, StaticSite

SITE = StaticSite(Path(__file__).with_name("static"))
PREFIX = "/viewer"

app = build_resolver()


@app.get(PREFIX, include_in_schema=False)
def page(if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None) -> Response[Any]:
    # The page's relative URLs resolve against its folder, so /viewer is sent to /viewer/ (API Gateway
    # routes both here; a relative Location keeps the stage prefix).
    if not app.current_event.path.endswith("/"):
        return Response(HTTPStatus.MOVED_PERMANENTLY, headers={"Location": "viewer/"}, body="")
    return _answer("", if_none_match)


@app.get(PREFIX + "/.+", include_in_schema=False)
def asset(if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None) -> Response[Any]:
    return _answer(app.current_event.path.removeprefix(PREFIX), if_none_match)


def _answer(relative_path: str, if_none_match: str | None) -> Response[Any]:
    found = SITE.file(relative_path)
    if found is None:
        raise NotFound(
            f"no viewer file {relative_path.strip('/')!r}"
            if SITE.built
            else "the viewer is not built: run `make viewer`"
        )
    headers = _headers(found)
    if if_none_match and already_held(if_none_match, found.etag):
        return Response(HTTPStatus.NOT_MODIFIED, headers=headers, body="")
    if found.text is not None:
        return Response(HTTPStatus.OK, found.content_type, found.text, headers)
    # Bytes reach a client whose first Accept type is one of the API's binary media types (an
    # <img>'s or an icon's is); the viewer's build holds text files only.
    return binary_response(found.content_type, found.body, headers)


def _headers(found: StaticFile) -> dict[str, str]:
    return {
        "ETag": found.etag,
        "Cache-Control": found.cache_control,
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
