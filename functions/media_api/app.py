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

from immichvr_depth.intake.upload_tickets import presign_upload
from immichvr_depth.platform.http import (
    ERROR_RESPONSES,
    binary_response,
    build_resolver,
    error_response,
    json_response,
    require_media_item_id,
)
from immichvr_depth.platform.observability import logger
from immichvr_depth.serving import deletion, delivery, regeneration
from immichvr_depth.serving.responses import depth_map_info, media_status
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.versions import VersionType

OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")
DOCS_PAGE = Path(__file__).with_name("docs.html")

app = build_resolver()

_CONFLICT: OpenAPIResponse = error_response(
    "the item is being imported, queued, processed or deleted: try again once it settles"
)


class UploadRequest(BaseModel):
    filename: Annotated[str, Field(min_length=1, max_length=255, description="the photo's file name")]
    contentType: Annotated[str, Field(description="its MIME type, e.g. image/jpeg")]  # noqa: N815 - wire name
    size: Annotated[int, Field(strict=True, description="its size in bytes")]


@app.post(
    "/api/media/uploads",
    summary="Get a presigned POST for uploading a photo",
    status_code=201,
    responses={
        201: {"description": "the upload ticket"},
        **ERROR_RESPONSES,
        413: error_response("larger than the upload cap"),
        415: error_response("not an image type the ingest decodes"),
    },
    tags=["uploads"],
)
def create_upload(request: Annotated[UploadRequest, Body()]) -> Response[Any]:
    ticket = presign_upload(request.filename, request.contentType.lower(), request.size)
    return json_response(HTTPStatus.CREATED, ticket.to_body())


@app.get(
    "/api/media",
    summary="List media items, newest first",
    responses={200: {"description": "a page of items and the cursor of the next"}, **ERROR_RESPONSES},
    tags=["media"],
)
def list_media(
    limit: Annotated[int, Query(ge=1, le=media_items.MAX_PAGE_SIZE)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    page = media_items.list_items(limit, cursor)
    items = [media_status(item, depth_maps.all_for(item.media_item_id)) for item in page.items]
    return json_response(HTTPStatus.OK, {"items": items, "nextCursor": page.next_cursor})


@app.get(
    "/api/media/<id>",
    summary="A media item, its processing status and its depth maps",
    responses={200: {"description": "the item's status"}, **ERROR_RESPONSES},
    tags=["media"],
)
def get_media(id: str) -> Response[Any]:
    item = media_items.get_item(require_media_item_id(id))
    return json_response(HTTPStatus.OK, media_status(item, depth_maps.all_for(item.media_item_id)))


@app.delete(
    "/api/media/<id>",
    summary="Delete a media item with all its files and depth maps",
    status_code=204,
    responses={
        204: {"description": "deleted, with every file and record of the item"},
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
        202: {"description": "queued: the item's status, and the versions being made again"},
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
    return json_response(
        HTTPStatus.ACCEPTED,
        {
            "success": True,
            "mediaItemId": queued.item.media_item_id,
            "processingStatus": queued.item.status,
            "versions": [v.value for v in queued.versions],
            "replacingGenerations": {v.value: generation for v, generation in queued.replacing.items()},
            "queueId": queued.queue_id,
        },
    )


@app.get(
    "/api/media/<id>/depth",
    summary="Download a depth map (16-bit PNG)",
    responses={
        200: {"description": "the PNG", "content": {"image/png": {}}},
        202: {"description": "the map was evicted and is being made again: retry after Retry-After seconds"},
        304: {"description": "unchanged since the ETag sent in If-None-Match"},
        307: {"description": "too large to send inline: a short-lived presigned S3 URL in Location"},
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
    responses={200: {"description": "the depth maps' metadata"}, **ERROR_RESPONSES},
    tags=["depth"],
)
def get_depth_info(id: str) -> Response[Any]:
    item = media_items.get_item(require_media_item_id(id))
    records = depth_maps.all_for(item.media_item_id)
    return json_response(
        HTTPStatus.OK,
        {
            "mediaItemId": item.media_item_id,
            "processingStatus": item.status,
            "depthMaps": [depth_map_info(record) for record in records],
        },
    )


@app.get("/api/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, OPENAPI_DOCUMENT.read_text())


@app.get("/api/docs", include_in_schema=False)
def docs_page() -> Response[str]:
    return Response(HTTPStatus.OK, "text/html; charset=utf-8", DOCS_PAGE.read_text())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
