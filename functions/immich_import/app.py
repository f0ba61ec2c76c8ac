"""POST /api/immich/import/{assetId}: bring one Immich photo in and queue it for depth;
POST /api/immich/import/album/{albumId}: queue the import of every photo of an album;
GET /api/immich/assets: the Immich library's images, newest first, with what was imported of each."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.intake import library
from immichvr_depth.intake.immich import ImmichClient
from immichvr_depth.intake.immich_import import import_asset
from immichvr_depth.intake.responses import AlbumImportQueued, AssetImported, ImmichLibraryPage
from immichvr_depth.intake.sync import queue_album_import
from immichvr_depth.platform.http import (
    ERROR_RESPONSES,
    build_resolver,
    error_response,
    json_answer,
    json_response,
    require_uuid,
)
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import get_settings

app = build_resolver()


@app.post(
    "/api/immich/import/<assetId>",
    summary="Import a photo from Immich and queue it for depth",
    status_code=202,
    responses={
        200: json_answer("already imported: the existing item", AssetImported),
        202: json_answer("imported and queued", AssetImported),
        **ERROR_RESPONSES,
        409: error_response("the asset is trashed or offline"),
        422: error_response("the asset is not an image, or larger than the download cap"),
        502: error_response("Immich refused our key or lacks a permission (named)"),
        504: error_response("Immich unreachable or too slow"),
    },
    tags=["immich"],
)
def import_immich_asset(assetId: str) -> Response[Any]:  # noqa: N803 - the route's own parameter name
    asset_id = require_uuid(assetId, "assetId")
    logger.append_keys(immich_asset_id=asset_id)
    settings = get_settings()
    client = ImmichClient.from_settings(settings)
    result = import_asset(asset_id, client, lift_deletion=True)
    status = HTTPStatus.OK if result.already_imported else HTTPStatus.ACCEPTED
    return json_response(status, AssetImported.of(result, asset_id))


@app.post(
    "/api/immich/import/album/<albumId>",
    summary="Queue the import of every photo of an Immich album",
    status_code=202,
    responses={
        202: json_answer("one import queued per image of the album", AlbumImportQueued),
        **ERROR_RESPONSES,
        404: error_response("no such album, or the Immich key may not see it"),
        502: error_response("Immich refused our key or lacks a permission (named)"),
        504: error_response("Immich unreachable or too slow"),
    },
    tags=["immich"],
)
def import_immich_album(albumId: str) -> Response[Any]:  # noqa: N803 - the route's own parameter name
    album_id = require_uuid(albumId, "albumId")
    logger.append_keys(immich_album_id=album_id)
    settings = get_settings()
    with ImmichClient.from_settings(settings) as client:
        result = queue_album_import(album_id, client)
    return json_response(HTTPStatus.ACCEPTED, AlbumImportQueued.of(result))


@app.get(
    "/api/immich/assets",
    summary="The Immich library's images, newest first, with what was imported of each",
    responses={
        200: json_answer("a page of the library's images and the cursor of the next", ImmichLibraryPage),
        **ERROR_RESPONSES,
        502: error_response("Immich refused our key or lacks a permission (named)"),
        504: error_response("Immich unreachable or too slow"),
    },
    tags=["immich"],
)
def list_immich_assets(
    size: Annotated[
        int | None,
        Query(
            ge=1,
            le=library.MAX_PAGE_SIZE,
            description=(
                f"images per page; {library.DEFAULT_PAGE_SIZE} when omitted, the cursor's own with a cursor"
            ),
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=64, description="the previous page's `nextCursor`; omitted for the first"),
    ] = None,
) -> Response[Any]:
    # The cursor is checked before anything reaches Immich, so a bad one is a 400 whatever Immich's state.
    position = library.position(size, cursor)
    settings = get_settings()
    with ImmichClient.from_settings(settings) as client:
        page = library.list_page(client, position)
    return json_response(HTTPStatus.OK, ImmichLibraryPage.of(page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
