"""A small, defensive client for the few Immich endpoints we use (servers 1.137 to 3.x)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Self
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from immichvr_depth.intake.immich.assets import (
    ImmichAlbum,
    ImmichAsset,
    SearchPage,
    parse_album,
    parse_asset,
    parse_search_page,
    parse_server_version,
)
from immichvr_depth.intake.immich.downloads import Download, spool
from immichvr_depth.intake.immich.errors import (
    ImmichAlbumNotFound,
    ImmichErrorBody,
    ImmichPreviewNotReady,
    ImmichUnavailable,
    ImmichUpstreamError,
    error_for_status,
    is_no_access,
)
from immichvr_depth.platform.errors import AppError, InvalidRequest, UpstreamError
from immichvr_depth.platform.secrets import immich_api_key

if TYPE_CHECKING:
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

    from immichvr_depth.platform.settings import Settings

log = logging.getLogger(__name__)

MIB = 1024 * 1024
API_KEY_HEADER = "x-api-key"
# Versions whose OpenAPI documents this client was checked against; others get a warning, not a refusal.
SUPPORTED_VERSIONS = ((1, 137, 0), (3, 999, 999))
# An error body is a few hundred bytes; never read a misbehaving proxy's page in full.
_ERROR_BODY_BYTES = 64 * 1024
_MAX_REDIRECTS = 3
# Immich's own default page size for search, and the largest it accepts.
SEARCH_PAGE_SIZE = 250
MAX_SEARCH_PAGE_SIZE = 1000
# The largest page number Immich accepts (3.x declares it; JavaScript's largest safe integer).
MAX_SEARCH_PAGE = 2**53 - 1
SearchOrder = Literal["asc", "desc"]

# Turns an Immich refusal into a more precise error than error_for_status would, or None to leave it.
_Refusal = Callable[[int, ImmichErrorBody], AppError | None]


class _RetryConnectAnd5xx(Retry):
    """urllib3's Retry, except that a read timeout is final.

    Failed connections and dropped connections (the request never got an answer) and 5xx answers are
    worth another try; a read timeout means Immich is up but slow, and waiting for it again would
    multiply the caller's wait by the number of retries.
    """

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _Secret:
    """Holds the API key so that no repr, log line or traceback of an attribute shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"

    def redact(self, text: str) -> str:
        return text.replace(self.value, "***") if self.value else text


class ImmichClient:
    """Reads asset metadata and downloads previews and originals with an Immich API key.

    The key needs ``asset.read`` (metadata and search), ``asset.view`` (preview), ``asset.download``
    (original) and, to import an album, ``album.read``.
    A ``session`` given by the caller gets the client's retrying adapter mounted on it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        max_download_bytes: int = 200 * MIB,
        retries: int = 3,
        backoff_factor: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        base = base_url.strip().rstrip("/")
        # People paste either the server URL or the API URL; both mean the same server.
        base = base.removesuffix("/api")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the Immich URL must look like http(s)://host[:port]")
        if api_key != api_key.strip() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in api_key):
            # requests would name the offending header value in its error: refuse it here, unnamed.
            raise ValueError("the Immich API key has whitespace or control characters in it")
        self.base_url = base
        # Shown in messages and repr: never any user:password@ a URL might carry.
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = host + (f":{parts.port}" if parts.port else "")
        self._shown_url = parts._replace(netloc=netloc).geturl()
        self._api_key = _Secret(api_key)
        self._timeout = (connect_timeout, read_timeout)
        self.max_download_bytes = max_download_bytes
        self._version: tuple[int, int, int] | None = None
        self._session = session if session is not None else requests.Session()
        retry = _RetryConnectAnd5xx(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=frozenset(range(500, 600)),
            backoff_factor=backoff_factor,
            # Hand the last 5xx back to us so its body can be read, instead of a bare RetryError.
            raise_on_status=False,
            # A proxy's "Retry-After: 600" must not hold a Lambda for ten minutes.
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImmichClient:
        """The client of the configured Immich, with its key (from SSM when deployed)."""
        if not settings.immich_url:
            raise UpstreamError("no Immich configured: deploy with ImmichUrl (locally, set IMMICH_URL)")
        return cls(
            settings.immich_url,
            immich_api_key(settings),
            connect_timeout=settings.immich_connect_timeout_s,
            read_timeout=settings.immich_read_timeout_s,
            max_download_bytes=settings.max_download_bytes,
        )

    def __repr__(self) -> str:
        connect, read = self._timeout
        return f"ImmichClient(base_url={self._shown_url!r}, connect_timeout={connect}, read_timeout={read})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- endpoints -------------------------------------------------------------------------------

    def server_version(self) -> tuple[int, int, int]:
        """The server's (major, minor, patch), asked once per client."""
        if self._version is None:
            version = parse_server_version(self._get_json("/server/version", action="reading the version"))
            if not SUPPORTED_VERSIONS[0] <= version <= SUPPORTED_VERSIONS[1]:
                log.warning("Immich %s.%s.%s is outside the supported range", *version)
            self._version = version
        return self._version

    def get_asset(self, asset_id: str) -> ImmichAsset:
        asset_id = _checked_id(asset_id)
        body = self._get_json(f"/assets/{asset_id}", action=f"reading asset {asset_id}", asset_id=asset_id)
        return parse_asset(body, asset_id)

    @contextmanager
    def download_thumbnail(self, asset_id: str) -> Iterator[Download]:
        """Immich's preview: upright already, JPEG or WebP as the server is configured, scaled to cover
        1440 x 1440 by default (Immich's ``fit: outside``, so its short side is 1440, never enlarged)."""
        asset_id = _checked_id(asset_id)

        def not_made_yet(status: int, body: ImmichErrorBody) -> AppError | None:
            # An unknown asset is a 400 from the access check; a 404 means the file is not there (yet).
            if status != 404:
                return None
            return ImmichPreviewNotReady(
                f"Immich has not made the preview of asset {asset_id} yet; it does shortly after an upload",
                assetId=asset_id,
                immichStatus=status,
                reason="preview_not_ready",
            )

        with self._download(
            f"/assets/{asset_id}/thumbnail",
            params={"size": "preview"},
            what=f"the preview of asset {asset_id}",
            asset_id=asset_id,
            refusal=not_made_yet,
        ) as download:
            yield download

    @contextmanager
    def download_original(self, asset_id: str) -> Iterator[Download]:
        """The file as uploaded: not rotated, in its own format (see ``ImmichAsset.orientation``)."""
        asset_id = _checked_id(asset_id)
        with self._download(
            f"/assets/{asset_id}/original",
            params=None,
            what=f"the original of asset {asset_id}",
            asset_id=asset_id,
        ) as download:
            yield download

    def get_album(self, album_id: str) -> ImmichAlbum:
        """The album's name and size; ``ImmichAlbumNotFound`` when it is unknown or not shared with the key's
        user (Immich answers both with 400 "Not found or no album.read access")."""
        album_id = _checked_id(album_id, "album id")
        # 1.x and 2.x list every asset of the album unless told not to; 3.x never does (and has no flag).
        params = {"withoutAssets": "true"} if self.server_version() < (3, 0, 0) else None

        def unknown_album(status: int, body: ImmichErrorBody) -> AppError | None:
            if status == 404 or (status == 400 and is_no_access(body.message)):
                return ImmichAlbumNotFound(
                    f"Immich album {album_id} not found, or the API key may not see it",
                    albumId=album_id,
                    immichStatus=status,
                )
            return None

        response = self._request(
            "GET",
            f"/albums/{album_id}",
            params=params,
            action=f"reading album {album_id}",
            refusal=unknown_album,
        )
        return parse_album(self._json_of(response, f"reading album {album_id}"), album_id)

    def search_assets(
        self,
        *,
        asset_type: str | None = "IMAGE",
        visibility: str | None = "timeline",
        updated_after: datetime | None = None,
        album_ids: Sequence[str] = (),
        page_size: int = SEARCH_PAGE_SIZE,
    ) -> Iterator[ImmichAsset]:
        """Every asset ``POST /search/metadata`` finds, page after page (trashed assets excluded, as
        Immich does by default). ``album_ids`` keeps assets that are in *all* of those albums, as
        Immich's filter does; ``visibility=None`` is Immich's default (timeline and archive)."""
        query = _search_query(
            asset_type=asset_type,
            visibility=visibility,
            updated_after=updated_after,
            album_ids=album_ids,
            page_size=page_size,
        )
        page: int | None = 1
        while page is not None:
            result = self._search(query, page)
            yield from result.assets
            page = result.next_page

    def search_page(
        self,
        page: int,
        *,
        asset_type: str | None = "IMAGE",
        visibility: str | None = "timeline",
        created_before: datetime | None = None,
        order: SearchOrder | None = None,
        page_size: int = SEARCH_PAGE_SIZE,
    ) -> SearchPage:
        """One page of ``POST /search/metadata``, for a caller that pages itself. ``order`` sorts by
        ``fileCreatedAt`` (when taken; Immich's own default is ``desc``); ``created_before`` keeps
        assets that reached Immich at or before that instant (Immich's ``createdAt``)."""
        if not 1 <= page <= MAX_SEARCH_PAGE:
            raise ValueError(f"page must be 1..{MAX_SEARCH_PAGE}")
        query = _search_query(
            asset_type=asset_type,
            visibility=visibility,
            created_before=created_before,
            order=order,
            page_size=page_size,
        )
        return self._search(query, page)

    def _search(self, query: Mapping[str, Any], page: int) -> SearchPage:
        action = f"searching assets (page {page})"
        response = self._request("POST", "/search/metadata", json_body={**query, "page": page}, action=action)
        return parse_search_page(self._json_of(response, action), page)

    # --- plumbing --------------------------------------------------------------------------------

    def _get_json(self, path: str, *, action: str, asset_id: str | None = None) -> Any:
        response = self._request("GET", path, action=action, asset_id=asset_id)
        return self._json_of(response, action)

    def _json_of(self, response: requests.Response, action: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ImmichUpstreamError(
                f"Immich did not answer with JSON while {action}; is the Immich URL right?",
                contentType=response.headers.get("Content-Type", ""),
            ) from None
        finally:
            response.close()

    @contextmanager
    def _download(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None,
        what: str,
        asset_id: str,
        refusal: _Refusal | None = None,
    ) -> Iterator[Download]:
        action = f"downloading {what}"
        response = self._request(
            "GET", path, params=params, stream=True, action=action, asset_id=asset_id, refusal=refusal
        )
        try:
            download = spool(response, limit=self.max_download_bytes, what=what)
        except requests.exceptions.ContentDecodingError as exc:
            raise ImmichUpstreamError(f"Immich sent {what} with a broken encoding", assetId=asset_id) from exc
        except requests.RequestException as exc:
            # Read timeouts and dropped connections mid-body arrive here.
            self._unavailable(exc, action, asset_id)
        finally:
            response.close()
        try:
            yield download
        finally:
            download.file.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        stream: bool = False,
        action: str,
        asset_id: str | None = None,
        refusal: _Refusal | None = None,
    ) -> requests.Response:
        url = f"{self.base_url}/api{path}"
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers={API_KEY_HEADER: self._api_key.value},
                    timeout=self._timeout,
                    stream=stream,
                    # Followed by hand: requests would carry the key header to any host a redirect names.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                self._unavailable(exc, action, asset_id)
            if not response.is_redirect:
                break
            url = self._same_server_redirect(response, action)
            params = None  # the Location already carries the query
        else:
            raise ImmichUpstreamError(f"Immich redirected too often while {action}")
        if response.status_code >= 400:
            body = _error_body(response, self._api_key)
            response.close()
            precise = refusal(response.status_code, body) if refusal is not None else None
            raise precise or error_for_status(response.status_code, body, action=action, asset_id=asset_id)
        return response

    def _same_server_redirect(self, response: requests.Response, action: str) -> str:
        location = response.headers.get("Location", "")
        response.close()
        target = urlsplit(urljoin(response.url, location))
        here = urlsplit(self.base_url)
        downgrade = here.scheme == "https" and target.scheme != "https"
        if target.hostname != here.hostname or target.scheme not in ("http", "https") or downgrade:
            raise ImmichUpstreamError(
                f"Immich redirected to another server while {action}; the API key is not sent there",
                redirectHost=target.hostname or "",
            )
        return target.geturl()

    def _unavailable(self, exc: requests.RequestException, action: str, asset_id: str | None) -> NoReturn:
        kind = "timeout" if _is_timeout(exc) else "connection"
        details: dict[str, Any] = {"reason": kind}
        if asset_id is not None:
            details["assetId"] = asset_id
        problem = "did not answer in time" if kind == "timeout" else "could not be reached"
        log.warning("Immich %s while %s (%s)", problem, action, type(exc).__name__)
        raise ImmichUnavailable(f"Immich at {self._shown_url} {problem} while {action}", **details) from exc


def _checked_id(raw_id: str, what: str = "asset id") -> str:
    """Immich ids are UUIDs; checking here also keeps a crafted id from reaching another endpoint."""
    try:
        return str(uuid.UUID(raw_id))
    except (ValueError, TypeError, AttributeError):
        name = "albumId" if what == "album id" else "assetId"
        raise InvalidRequest(f"the Immich {what} must be a UUID", **{name: str(raw_id)[:64]}) from None


def _search_query(
    *,
    asset_type: str | None,
    visibility: str | None,
    page_size: int,
    updated_after: datetime | None = None,
    created_before: datetime | None = None,
    album_ids: Sequence[str] = (),
    order: SearchOrder | None = None,
) -> dict[str, Any]:
    """The MetadataSearchDto of a search, less its page; a filter left None is not sent at all."""
    if not 1 <= page_size <= MAX_SEARCH_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_SEARCH_PAGE_SIZE}")
    query: dict[str, Any] = {"size": page_size}
    if asset_type is not None:
        query["type"] = asset_type
    if visibility is not None:
        query["visibility"] = visibility
    if updated_after is not None:
        query["updatedAfter"] = _iso_instant(updated_after)
    if created_before is not None:
        query["createdBefore"] = _iso_instant(created_before)
    if album_ids:
        query["albumIds"] = [_checked_id(album_id, "album id") for album_id in album_ids]
    if order is not None:
        query["order"] = order
    return query


def _iso_instant(moment: datetime) -> str:
    """``2024-01-15T19:30:00.000Z``: UTC with milliseconds, as Immich writes its own timestamps."""
    if moment.tzinfo is None:
        raise ValueError("a search time must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    # requests reports a read timeout in the middle of a body as a ConnectionError around urllib3's.
    cause: object = exc.args[0] if exc.args else None
    return isinstance(cause, ReadTimeoutError)


def _error_body(response: requests.Response, secret: _Secret) -> ImmichErrorBody:
    """Immich's error body; redacted, in case a proxy in front of Immich echoes the request headers."""
    fallback = response.reason or f"HTTP {response.status_code}"
    try:
        raw = bytearray()
        for chunk in response.iter_content(chunk_size=8192):
            raw.extend(chunk)
            if len(raw) >= _ERROR_BODY_BYTES:
                break
        body = json.loads(bytes(raw[:_ERROR_BODY_BYTES]))
    except (requests.RequestException, ValueError):
        return ImmichErrorBody(message=fallback)
    parsed = ImmichErrorBody.parse(body, fallback)
    return ImmichErrorBody(
        message=secret.redact(parsed.message), errors=tuple(secret.redact(e) for e in parsed.errors)
    )
