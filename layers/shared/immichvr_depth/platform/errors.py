"""Domain errors and the HTTP answer each one maps to. Handlers turn any AppError into JSON."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from immichvr_depth.platform.http import ErrorAnswer


# The most of a caller's input an error message quotes, and the longest message an answer carries:
# a refusal of a 100,000-character value is not a 100 KB answer and log line.
ECHO_LIMIT = 64
MESSAGE_LIMIT = 1000


def echoed(value: object) -> str:
    """`value` as an error message quotes it: its repr, cut after ECHO_LIMIT characters of the value,
    saying how many more there were."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= ECHO_LIMIT:
        return repr(value)
    return f"{text[:ECHO_LIMIT]!r}... ({len(text) - ECHO_LIMIT} more characters)"


class AppError(Exception):
    """An error the caller can act on: a status code, a stable machine code and a readable message."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR
    code = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        if len(message) > MESSAGE_LIMIT:
            message = f"{message[:MESSAGE_LIMIT]}... ({len(message) - MESSAGE_LIMIT} more characters)"
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> ErrorAnswer:
        """The JSON answer for this error: its code and message, and its details when it has any."""
        # Imported here, not at the top: the HTTP module imports this one.
        from immichvr_depth.platform.http import ErrorAnswer

        return ErrorAnswer.of(self)


class InvalidRequest(AppError):
    status = HTTPStatus.BAD_REQUEST
    code = "invalid_request"


class NotFound(AppError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class Conflict(AppError):
    status = HTTPStatus.CONFLICT
    code = "conflict"


class PayloadTooLarge(AppError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "unprocessable"


class UpstreamError(AppError):
    """A service we depend on (Immich, SageMaker) answered, but not with what we need."""

    status = HTTPStatus.BAD_GATEWAY
    code = "upstream_error"


class UpstreamTimeout(AppError):
    """A service we depend on could not be reached or did not answer in time."""

    status = HTTPStatus.GATEWAY_TIMEOUT
    code = "upstream_timeout"


class InvalidImage(Unprocessable):
    """The bytes are not an image we can decode: a permanent failure, never worth a retry."""

    code = "invalid_image"
