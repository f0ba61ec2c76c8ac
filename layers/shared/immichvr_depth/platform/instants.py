"""Instants as the API writes them, in bodies, headers and the metadata of stored files alike."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def instant_text(moment: datetime) -> str:
    """ISO 8601 in UTC ending in `Z`: `2026-01-02T03:04:05.678901Z`."""
    return moment.isoformat().replace("+00:00", "Z")


# A stored instant in an answer's model, sent as instant_text writes it.
Timestamp = Annotated[
    datetime,
    PlainSerializer(instant_text, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
