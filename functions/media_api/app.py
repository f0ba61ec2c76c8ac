"""The media API: item status, listings, depth-map info and regeneration, deletes, upload tickets, health
and the API's documentation."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from immichvr_depth.intake.responses import UploadTicketIssued
from immichvr_depth.intake.upload_tickets import presign_upload
from immichvr_depth.platform.http import (
    ERROR_RESPONSES,
    build_resolver,
    error_response,
    json_answer,
    json_response,
    no_body,
    require_media_item_id,
)
from immichvr_depth.platform.observability import logger
from immichvr_depth.serving import deletion, regeneration
from immichvr_depth.serving.responses import (
    DepthInfo,
    Health,
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
    "/api/media/<id>/depth/info",
    summary="The metadata of every depth map of an item, without the files",
    responses={200: json_answer("the depth maps' metadata", DepthInfo), **ERROR_RESPONSES},
    tags=["depth"],
)
def get_depth_info(id: str) -> Response[Any]:
    item = media_items.get_item(require_media_item_id(id))
    return json_response(HTTPStatus.OK, DepthInfo.of(item, depth_maps.all_for(item.media_item_id)))


@app.get(
    "/api/health",
    summary="Whether the API answers, and its release",
    responses={200: json_answer("it answers", Health), **ERROR_RESPONSES},
    tags=["health"],
)
def health() -> Response[Any]:
    return json_response(HTTPStatus.OK, Health())


@app.get("/api/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, OPENAPI_DOCUMENT.read_text())


@app.get("/api/docs", include_in_schema=False)
def docs_page() -> Response[str]:
    return Response(HTTPStatus.OK, "text/html; charset=utf-8", DOCS_PAGE.read_text())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
