"""The message put on the processing queue: what to make depth maps for."""

from __future__ import annotations

import json
from dataclasses import dataclass

from immichvr_depth.errors import InvalidRequest


@dataclass(frozen=True)
class ProcessingMessage:
    media_item_id: str

    def to_json(self) -> str:
        return json.dumps({"mediaItemId": self.media_item_id})

    @classmethod
    def from_json(cls, body: str) -> ProcessingMessage:
        try:
            payload = json.loads(body)
            media_item_id = payload["mediaItemId"]
        except (ValueError, TypeError, KeyError) as error:
            raise InvalidRequest(f"not a processing message: {error}") from error
        if not isinstance(media_item_id, str) or not media_item_id:
            raise InvalidRequest("processing message has no mediaItemId")
        return cls(media_item_id=media_item_id)
