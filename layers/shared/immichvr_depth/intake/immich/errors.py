"""What can go wrong talking to Immich, as the project's AppErrors, and how Immich's error bodies read.

Every class keeps its parent's status and machine code, so an API handler answers an Immich failure
exactly like any other failure of that kind; the message and details say it was Immich.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from immichvr_depth.platform.errors import AppError, NotFound, Unprocessable, UpstreamError, UpstreamTimeout


class ImmichAssetNotFound(NotFound):
    """The asset does not exist, or this API key may not see it (Immich does not say which)."""


class ImmichPreviewNotReady(ImmichAssetNotFound):
    """The asset exists but Immich has not made its preview yet (its thumbnail job runs just after
    the upload): worth asking again a little later, unlike an unknown asset."""


class ImmichAlbumNotFound(NotFound):
    """The album does not exist, or this API key may not see it (Immich does not say which)."""


class ImmichUpstreamError(UpstreamError):
    """Immich answered, but not with something we can use (an unexpected status, a malformed body)."""


class ImmichAuthError(ImmichUpstreamError):
    """Immich rejected the API key (401) or the key lacks a permission (403): a setup problem."""


class ImmichServerError(ImmichUpstreamError):
    """Immich kept failing with a 5xx after our retries."""


class ImmichUnavailable(UpstreamTimeout):
    """Immich could not be reached, or stopped answering (also in the middle of a download)."""


class ImmichDownloadTooLarge(Unprocessable):
    """The file is larger than we are willing to hold; refused before or while it streams in."""


@dataclass(frozen=True)
class ImmichErrorBody:
    """Immich's error body, read leniently.

    Immich 1.x/2.x (NestJS default): ``{"message": str | [str], "error": "Bad Request", "statusCode": 400,
    "correlationId": ...}``; Immich 3.x drops ``error``/``statusCode`` and answers ``{"message": str}``, or
    ``{"message": "Validation failed", "errors": [<zod issue>...]}`` for invalid input.
    """

    message: str
    errors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, body: object, fallback: str) -> ImmichErrorBody:
        if not isinstance(body, Mapping):
            return cls(message=fallback)
        raw_message = body.get("message")
        details: list[str] = []
        if isinstance(raw_message, list):
            # class-validator (1.x/2.x) lists each failed constraint as the message itself.
            details = [str(item) for item in raw_message]
            message = "; ".join(details) or fallback
        elif isinstance(raw_message, str) and raw_message:
            message = raw_message
        else:
            message = fallback
        raw_errors = body.get("errors")
        if isinstance(raw_errors, list):
            details.extend(_describe_issue(issue) for issue in raw_errors)
        return cls(message=message, errors=tuple(details))

    def describe(self) -> str:
        if not self.errors or self.errors == (self.message,):
            return self.message
        extra = "; ".join(e for e in self.errors if e != self.message)
        return f"{self.message} ({extra})" if extra else self.message


def _describe_issue(issue: object) -> str:
    """A zod issue (``{"path": ["id"], "message": "Invalid UUID", ...}``) as one short line."""
    if isinstance(issue, Mapping):
        path = issue.get("path")
        where = ".".join(str(p) for p in path) if isinstance(path, list) and path else ""
        text = str(issue.get("message") or issue.get("code") or "invalid")
        return f"{where}: {text}" if where else text
    return str(issue)


_PERMISSION = re.compile(r"missing required permission:\s*([\w.\-]+)", re.IGNORECASE)
# Immich's access check answers 400 "Not found or no asset.read access" for an unknown asset id.
_NO_ACCESS = re.compile(r"not found or no ([\w.\-]+) access", re.IGNORECASE)


def missing_permission(message: str) -> str | None:
    """The permission named in Immich's 403 ``Missing required permission: asset.read``."""
    match = _PERMISSION.search(message)
    return match.group(1) if match else None


def is_no_access(message: str) -> bool:
    return _NO_ACCESS.search(message) is not None


def error_for_status(
    status: int, body: ImmichErrorBody, *, action: str, asset_id: str | None = None
) -> AppError:
    """The AppError for an Immich answer that is not a success. ``action`` says what we were doing."""
    where: dict[str, Any] = {"immichStatus": status}
    if asset_id is not None:
        where["assetId"] = asset_id
    if asset_id is not None and (status == 404 or (status == 400 and is_no_access(body.message))):
        return ImmichAssetNotFound(
            f"Immich asset {asset_id} not found, or the API key may not see it", **where
        )
    if status == 401:
        return ImmichAuthError(
            f"Immich rejected the API key while {action}: {body.describe()}", reason="unauthorized", **where
        )
    if status == 403:
        permission = missing_permission(body.message)
        if permission is not None:
            return ImmichAuthError(
                f"the Immich API key lacks the '{permission}' permission needed for {action}",
                reason="missing_permission",
                permission=permission,
                **where,
            )
        return ImmichAuthError(f"Immich refused {action}: {body.describe()}", reason="forbidden", **where)
    if status >= 500:
        return ImmichServerError(f"Immich failed while {action}: {body.describe()}", **where)
    return ImmichUpstreamError(f"Immich answered {status} while {action}: {body.describe()}", **where)
