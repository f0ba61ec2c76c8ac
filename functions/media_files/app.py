"""The files a viewer loads for one version of an item: the depth map (16-bit, or 8-bit for browsers),
the upright photo, stereo pairs for headsets, and presigned URLs of them all. A function of its own:
making a derivative needs the memory (and so the CPU share) a listing does not."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from immichvr_depth.imaging import (
    CONVERGENCE_RANGE,
    DEFAULT_CONVERGENCE,
    DEFAULT_DIVERGENCE,
    DIVERGENCE_RANGE,
    StereoLayout,
    StereoParams,
)
from immichvr_depth.platform.errors import InvalidRequest
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
from immichvr_depth.serving import delivery
from immichvr_depth.serving.derivatives import DepthFormat
from immichvr_depth.serving.file_responses import MediaUrls, NotReady
from immichvr_depth.serving.files import FileAnswer
from immichvr_depth.store.versions import VersionType

app = build_resolver()

_TEXT: dict[str, Any] = {"type": "string"}
_CACHING: dict[str, Any] = {
    "ETag": {"description": "the file's version; send it back in If-None-Match", "schema": _TEXT},
    "Cache-Control": {"description": "private, cached for a day, revalidated after", "schema": _TEXT},
}
# What an answer made from a depth map says about the map, inline or (as x-amz-meta-* headers of the
# same names) after the redirect to S3.
_MAP_FACTS: dict[str, Any] = {
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
_DOWNLOAD_NAME: dict[str, Any] = {
    "Content-Disposition": {
        "description": "attachment, with a file name VR players recognise (RFC 6266 filename*)",
        "schema": _TEXT,
    }
}
_UNREADABLE = error_response(
    "the stored photo cannot be read (a RAW original, say): no photo or pair is made"
)
_RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
}
_ACCEPT_DOC = (
    "inline bytes need an image type first (`image/png` or `image/jpeg`, as API Gateway passes "
    "binary bodies only then); otherwise, or when large, the answer is a 307 to S3"
)


def _file_responses(
    content_type: str, description: str, headers: dict[str, Any]
) -> dict[int, OpenAPIResponse]:
    return {
        # OpenAPI 3.1 declares a binary body by its media type alone, without a schema.
        200: {"description": description, "headers": headers, "content": {content_type: {}}},
        202: {
            **json_answer(
                "being made (an evicted map made again, or a derivative): retry after Retry-After seconds",
                NotReady,
            ),
            "headers": _RETRY_AFTER,
        },
        304: no_body("unchanged since the ETag sent in If-None-Match", headers),
        307: no_body(
            f"a short-lived presigned S3 URL in Location: {_ACCEPT_DOC}",
            {
                "Location": {
                    "description": "the presigned S3 URL",
                    "schema": {"type": "string", "format": "uri"},
                }
            }
            | headers,
        ),
        **ERROR_RESPONSES,
        422: _UNREADABLE,
    }


def _answer(result: FileAnswer, content_type: str) -> Response[str]:
    if result.accepted is not None:
        return json_response(HTTPStatus.ACCEPTED, result.accepted, result.headers)
    if result.not_modified:
        return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=result.headers, body="")
    if result.redirect_url:
        return Response(
            status_code=HTTPStatus.TEMPORARY_REDIRECT,
            headers=result.headers | {"Location": result.redirect_url},
            body="",
        )
    return binary_response(content_type, result.body or b"", result.headers)


Version = Annotated[VersionType, Query(description="the version: its size is its depth map's")]
Accept = Annotated[str | None, Header(alias="Accept", description=_ACCEPT_DOC)]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


@app.get(
    "/api/media/<id>/depth",
    summary="Download a depth map: 16-bit PNG, or 8-bit for browsers",
    responses=_file_responses("image/png", "the PNG, near bright", _CACHING | _MAP_FACTS),
    tags=["depth"],
)
def get_depth(
    id: str,
    version: Version = VersionType.FULL_RESOLUTION,
    format: Annotated[
        DepthFormat, Query(description="png16: the stored map; png8: the same in 8 bits, as WebGL reads it")
    ] = DepthFormat.PNG16,
    accept: Accept = None,
    if_none_match: IfNoneMatch = None,
) -> Response[str]:
    result = delivery.depth_map(require_media_item_id(id), version, format, accept, if_none_match)
    return _answer(result, "image/png")


@app.get(
    "/api/media/<id>/photo",
    summary="The photo of a version, upright, as a JPEG the size of its depth map",
    responses=_file_responses("image/jpeg", "the JPEG", _CACHING),
    tags=["viewer"],
)
def get_photo(
    id: str,
    version: Version = VersionType.FULL_RESOLUTION,
    accept: Accept = None,
    if_none_match: IfNoneMatch = None,
) -> Response[str]:
    result = delivery.photo(require_media_item_id(id), version, accept, if_none_match)
    return _answer(result, "image/jpeg")


def _stereo_params(layout: StereoLayout, divergence: float, convergence: float) -> StereoParams:
    try:
        return StereoParams.of(layout, divergence, convergence)
    except ValueError as error:
        raise InvalidRequest(str(error), divergence=divergence, convergence=convergence) from None


@app.get(
    "/api/media/<id>/stereo",
    summary="A stereo image of a version for VR photo players and red-cyan glasses",
    responses=_file_responses("image/jpeg", "the stereo JPEG", _CACHING | _MAP_FACTS | _DOWNLOAD_NAME),
    tags=["viewer"],
)
def get_stereo(
    id: str,
    version: Version = VersionType.FULL_RESOLUTION,
    layout: Annotated[
        StereoLayout,
        Query(
            description="sbs: full side-by-side (twice the width); half-sbs: squeezed to the photo's "
            "width; tb: full top-bottom (twice the height); anaglyph: red-cyan, the photo's size"
        ),
    ] = StereoLayout.SBS,
    divergence: Annotated[
        float,
        Query(
            description=f"the largest shift between the eyes, in percent of the width "
            f"({DIVERGENCE_RANGE[0]:g} to {DIVERGENCE_RANGE[1]:g}), rounded to 0.1"
        ),
    ] = DEFAULT_DIVERGENCE,
    convergence: Annotated[
        float,
        Query(
            description=f"where the screen plane sits, from the farthest depth ({CONVERGENCE_RANGE[0]:g}) "
            f"to the nearest ({CONVERGENCE_RANGE[1]:g}), rounded to 0.05"
        ),
    ] = DEFAULT_CONVERGENCE,
    accept: Accept = None,
    if_none_match: IfNoneMatch = None,
) -> Response[str]:
    params = _stereo_params(layout, divergence, convergence)
    result = delivery.stereo(require_media_item_id(id), version, params, accept, if_none_match)
    return _answer(result, "image/jpeg")


@app.get(
    "/api/media/<id>/urls",
    summary="Short-lived URLs of a version's photo, depth maps and stereo pairs, for <img> and loaders",
    responses={200: json_answer("the URLs", MediaUrls), **ERROR_RESPONSES, 422: _UNREADABLE},
    tags=["viewer"],
)
def get_urls(id: str, version: Version = VersionType.FULL_RESOLUTION) -> Response[Any]:
    return json_response(HTTPStatus.OK, delivery.urls(require_media_item_id(id), version))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
