"""The media API: item status, listings, depth maps (regenerated on demand), deletes, and upload tickets."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from immichvr_depth.intake.responses import UploadTicketIssued
from immichvr_depth.intake.upload_tickets import presign_upload
from immichvr_depth.platform.http import (
    ERROR_RESPONSES,
    binary_response,
    build_resolver,
    error_response,
    json_answer,
    json_response,
    no_body,
    require_media_item_id,
)
from immichvr_depth.platform.observability import logger
from immichvr_depth.serving import deletion, delivery, regeneration
from immichvr_depth.serving.responses import (
    DepthInfo,
    DepthMapRegenerating,
    MediaPage,
    MediaStatus,
    RegenerationQueued,
)
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.versions import VersionType

OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")
DOCS_PAGE = Path(__file__).with_name("docs.html")

app = build_resolver()

_CONFLICT: OpenAPIResponse = error_response(
    "the item is being imported, queued, processed or deleted: try again once it settles"
)
_TEXT: dict[str, Any] = {"type": "string"}
# What a depth map's download, its 304 and its 307 say about the map.
_DEPTH_MAP_HEADERS: dict[str, Any] = {
    "ETag": {"description": "the map's version; send it back in If-None-Match", "schema": _TEXT},
    "Cache-Control": {"description": "private, cached for a day, revalidated after", "schema": _TEXT},
    "X-Depth-Map-Version": {
        "description": "the version served",
        "schema": {"type": "string", "enum": [version.value for version in VersionType]},
    },
    "X-Model-Name": {"description": "the depth model that made the map", "schema": _TEXT},
    "X-Model-Version": {"description": "its version", "schema": _TEXT},
    "X-Generated-At": {
        "description": "when the map was made",
        "schema": {"type": "string", "format": "date-time"},
    },
}


class UploadRequest(BaseModel):
    filename: Annotated[str, Field(min_length=1, max_length=255, description="the photo's file name")]
    contentType: Annotated[str, Field(description="its MIME type, e.g. image/jpeg")]  # noqa: N815 - wire name
    size: Annotated[int, Field(strict=True, description="its size in bytes")]


@app.post(
    "/api/media/uploads",
    summary="Get a presigned POST for uploading a photo",
    status_code=201,
    responses={
        201: json_answer("the upload ticket", UploadTicketIssued),
        **ERROR_RESPONSES,
        413: error_response("larger than the upload cap"),
        415: error_response("not an image type the ingest decodes"),
    },
    tags=["uploads"],
)
def create_upload(request: Annotated[UploadRequest, Body()]) -> Response[Any]:
    ticket = presign_upload(request.filename, request.contentType.lower(), request.size)
    return json_response(HTTPStatus.CREATED, UploadTicketIssued.of(ticket))


@app.get(
    "/api/media",
    summary="List media items, newest first",
    responses={200: json_answer("a page of items and the cursor of the next", MediaPage), **ERROR_RESPONSES},
    tags=["media"],
)
def list_media(
    limit: Annotated[int, Query(ge=1, le=media_items.MAX_PAGE_SIZE)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    page = media_items.list_items(limit, cursor)
    items = [MediaStatus.of(item, depth_maps.all_for(item.media_item_id)) for item in page.items]
    return json_response(HTTPStatus.OK, MediaPage(items=items, next_cursor=page.next_cursor))


@app.get(
    "/api/media/<id>",
    summary="A media item, its processing status and its depth maps",
    responses={200: json_answer("the item's status", MediaStatus), **ERROR_RESPONSES},
    tags=["media"],
)
def get_media(id: str) -> Response[Any]:
    item = media_items.get_item(require_media_item_id(id))
    return json_response(HTTPStatus.OK, MediaStatus.of(item, depth_maps.all_for(item.media_item_id)))


@app.delete(
    "/api/media/<id>",
    summary="Delete a media item with all its files and depth maps",
    status_code=204,
    responses={
        204: no_body("deleted, with every file and record of the item"),
        **ERROR_RESPONSES,
    },
    tags=["media"],
)
def delete_media(id: str) -> Response[str]:
    deletion.delete_media_item(require_media_item_id(id))
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


@app.post(
    "/api/media/<id>/depth/regenerate",
    summary="Make an item's depth maps again (after a model change, say)",
    status_code=202,
    responses={
        202: json_answer("queued: the item's status, and the versions being made again", RegenerationQueued),
        409: _CONFLICT,
        **ERROR_RESPONSES,
    },
    tags=["depth"],
)
def regenerate_depth(
    id: str,
    version: Annotated[
        VersionType | None, Query(description="the version to make again; every version when omitted")
    ] = None,
) -> Response[Any]:
    queued = regeneration.request_regeneration(require_media_item_id(id), version)
    return json_response(HTTPStatus.ACCEPTED, RegenerationQueued.of(queued))


@app.get(
    "/api/media/<id>/depth",
    summary="Download a depth map (16-bit PNG)",
    responses={
        200: {
            "description": "the PNG",
            "headers": _DEPTH_MAP_HEADERS,
            # OpenAPI 3.1 declares a binary body by its media type alone, without a schema.
            "content": {"image/png": {}},
        },
        202: {
            **json_answer(
                "the map was evicted and is being made again: retry after Retry-After seconds",
                DepthMapRegenerating,
            ),
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        },
        304: no_body("unchanged since the ETag sent in If-None-Match", _DEPTH_MAP_HEADERS),
        307: no_body(
            "too large to send inline: a short-lived presigned S3 URL in Location",
            {
                "Location": {
                    "description": "the presigned S3 URL",
                    "schema": {"type": "string", "format": "uri"},
                },
                **_DEPTH_MAP_HEADERS,
            },
        ),
        **ERROR_RESPONSES,
    },
    tags=["depth"],
)
def get_depth(
    id: str,
    version: Annotated[VersionType, Query()] = VersionType.FULL_RESOLUTION,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response[str]:
    result = delivery.download(require_media_item_id(id), version, if_none_match)
    if result.regenerating is not None:
        return json_response(HTTPStatus.ACCEPTED, result.regenerating, result.headers)
    if result.not_modified:
        return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=result.headers, body="")
    if result.redirect_url:
        return Response(
            status_code=HTTPStatus.TEMPORARY_REDIRECT,
            headers=result.headers | {"Location": result.redirect_url},
            body="",
        )
    return binary_response("image/png", result.body or b"", result.headers)


@app.get(
    "/api/media/<id>/depth/info",
    summary="The metadata of every depth map of an item, without the files",
    responses={200: json_answer("the depth maps' metadata", DepthInfo), **ERROR_RESPONSES},
    tags=["depth"],
)
def get_depth_info(id: str) -> Response[Any]:
    item = media_items.get_item(require_media_item_id(id))
    return json_response(HTTPStatus.OK, DepthInfo.of(item, depth_maps.all_for(item.media_item_id)))


@app.get("/api/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, OPENAPI_DOCUMENT.read_text())


@app.get("/api/docs", include_in_schema=False)
def docs_page() -> Response[str]:
    return Response(HTTPStatus.OK, "text/html; charset=utf-8", DOCS_PAGE.read_text())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
