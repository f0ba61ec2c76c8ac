"""Errors the container maps to HTTP answers: bad input is always the caller's 4xx, never our 500."""

from __future__ import annotations

from http import HTTPStatus

_CODES = {
    HTTPStatus.BAD_REQUEST: "invalid_input",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
}


class InvalidInput(Exception):
    """The request cannot be served as sent: an image or a parameter the caller must change."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        if status not in _CODES:
            raise ValueError(f"InvalidInput takes one of {sorted(_CODES)}, not {status}")
        super().__init__(message)
        self.message = message
        self.status = int(status)

    @property
    def code(self) -> str:
        return _CODES[HTTPStatus(self.status)]


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says which one and what to do about it."""
