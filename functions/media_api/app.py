"""The media API: item status, listings, depth maps and their metadata."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from immichvr_depth import depth_maps, media_items, serving
from immichvr_depth.api import build_resolver, json_response, require_uuid
from immichvr_depth.errors import InvalidRequest
from immichvr_depth.observability import logger
from immichvr_depth.uploads import presign_upload
from immichvr_depth.versions import VersionType
from immichvr_depth.views import depth_map_info, media_status

DEFAULT_PAGE_SIZE = 25

app = build_resolver()


@app.get("/api/media")
def list_media() -> Response[Any]:
    raw_limit = app.current_event.get_query_string_value("limit", str(DEFAULT_PAGE_SIZE)) or ""
    if not raw_limit.isdigit():
        raise InvalidRequest("limit must be a whole number")
    page = media_items.list_items(int(raw_limit), app.current_event.get_query_string_value("cursor"))
    items = [media_status(item, depth_maps.all_for(item.media_item_id)) for item in page.items]
    return json_response(HTTPStatus.OK, {"items": items, "nextCursor": page.next_cursor})


@app.post("/api/media/uploads")
def create_upload() -> Response[Any]:
    try:
        request = json.loads(app.current_event.decoded_body or "null")
    except ValueError:
        raise InvalidRequest("body is not valid JSON") from None
    if not isinstance(request, dict):
        raise InvalidRequest("body must be a JSON object with filename, contentType and size")
    filename, content_type, size = request.get("filename"), request.get("contentType"), request.get("size")
    if not isinstance(filename, str) or not isinstance(content_type, str):
        raise InvalidRequest("filename and contentType must be strings")
    if not isinstance(size, int) or isinstance(size, bool):
        raise InvalidRequest("size must be a whole number of bytes")
    ticket = presign_upload(filename, content_type.lower(), size)
    return json_response(HTTPStatus.CREATED, ticket.to_body())


@app.get("/api/media/<media_item_id>")
def get_media(media_item_id: str) -> Response[Any]:
    item = media_items.get_item(require_uuid(media_item_id, "id"))
    return json_response(HTTPStatus.OK, media_status(item, depth_maps.all_for(item.media_item_id)))


@app.get("/api/media/<media_item_id>/depth")
def get_depth(media_item_id: str) -> Response[Any]:
    media_item_id = require_uuid(media_item_id, "id")
    try:
        version = VersionType.parse(app.current_event.get_query_string_value("version"))
    except ValueError as error:
        raise InvalidRequest(str(error), allowed=[v.value for v in VersionType]) from None
    result = serving.download(media_item_id, version, app.current_event.headers.get("If-None-Match"))
    if result.not_modified:
        return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=result.headers, body="")
    if result.redirect_url:
        return Response(
            status_code=HTTPStatus.TEMPORARY_REDIRECT,
            headers=result.headers | {"Location": result.redirect_url},
            body="",
        )
    return Response(
        status_code=HTTPStatus.OK, content_type="image/png", headers=result.headers, body=result.body
    )


@app.get("/api/media/<media_item_id>/depth/info")
def get_depth_info(media_item_id: str) -> Response[Any]:
    item = media_items.get_item(require_uuid(media_item_id, "id"))
    records = depth_maps.all_for(item.media_item_id)
    return json_response(
        HTTPStatus.OK,
        {
            "mediaItemId": item.media_item_id,
            "processingStatus": item.status,
            "depthMaps": [depth_map_info(record) for record in records],
        },
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
