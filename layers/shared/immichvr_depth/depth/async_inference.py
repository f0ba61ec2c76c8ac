"""Asynchronous inference: what the processor leaves in S3 for the endpoint, and what the endpoint's
notifications say when it is done.

The processor puts each model input under the async input prefix with everything the completion
needs in the object's metadata, then submits it; SageMaker writes the answer (or the failure) under the
output (failures) prefix and publishes a notification, which SNS delivers to the completion queue.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from immichvr_depth.depth.backends import AsyncDepthBackend, AsyncInvocation
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidRequest
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.keys import (
    ASYNC_FAILURES_PREFIX,
    ASYNC_INPUT_PREFIX,
    ASYNC_OUTPUT_PREFIX,
    async_input_key,
)
from immichvr_depth.store.versions import VersionType

COMPLETED = "Completed"
FAILED = "Failed"


@dataclass(frozen=True)
class InvocationContext:
    """What storing a submission's answer needs, carried as the input object's S3 metadata.

    Anything else `store_prediction` comes to need travels here too: add a field, write it in
    `to_metadata` and read it in `from_metadata`."""

    media_item_id: str
    version: VersionType
    oriented_size: tuple[int, int]  # (width, height) the map is stored at: the tier's upright size
    input_size: int
    inference_id: str
    replacing: int | None = None  # a regeneration: the generation the new map replaces

    def to_metadata(self) -> dict[str, str]:
        width, height = self.oriented_size
        metadata = {
            "media-item-id": self.media_item_id,
            "version": self.version.value,
            "oriented-width": str(width),
            "oriented-height": str(height),
            "input-size": str(self.input_size),
            "inference-id": self.inference_id,
        }
        if self.replacing is not None:
            metadata["replacing"] = str(self.replacing)
        return metadata

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> InvocationContext:
        try:
            return cls(
                media_item_id=metadata["media-item-id"],
                version=VersionType(metadata["version"]),
                oriented_size=(int(metadata["oriented-width"]), int(metadata["oriented-height"])),
                input_size=int(metadata["input-size"]),
                inference_id=metadata["inference-id"],
                replacing=int(metadata["replacing"]) if metadata.get("replacing") else None,
            )
        except (KeyError, ValueError) as error:
            raise InvalidRequest(f"async input object lacks its context: {error}") from error


def new_inference_id(media_item_id: str, version: VersionType) -> tuple[str, str]:
    """An inference id naming the item and version (so logs and the console say what a request is
    for), and the token that makes it and its input key unique. At most 64 characters, as SageMaker
    allows: a UUID, the longest version name and 8 hex digits make 61."""
    token = uuid.uuid4().hex[:8]
    return f"{media_item_id}:{version.value}:{token}", token


def parse_inference_id(inference_id: str) -> tuple[str, VersionType] | None:
    parts = inference_id.split(":")
    if len(parts) != 3:
        return None
    try:
        return parts[0], VersionType(parts[1])
    except ValueError:
        return None


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise InvalidRequest(f"not an S3 location: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def submit(
    context: InvocationContext, body: bytes, content_type: str, token: str, backend: AsyncDepthBackend
) -> str:
    """Leave the model input in S3 with its context, then hand it to the endpoint. Returns its key."""
    bucket = get_settings().media_bucket
    key = async_input_key(context.media_item_id, context.version, token)
    aws.s3().put_object(
        Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=context.to_metadata()
    )
    backend.submit(
        AsyncInvocation(
            inference_id=context.inference_id,
            input_location=s3_uri(bucket, key),
            content_type=content_type,
            input_size=context.input_size,
        )
    )
    return key


# ---------------------------------------------------------------- notifications


@dataclass(frozen=True)
class Notification:
    """A SageMaker asynchronous inference notification (the JSON the endpoint publishes to SNS)."""

    status: str  # "Completed" or "Failed"
    inference_id: str
    input_location: str
    output_location: str | None
    failure_location: str | None
    failure_reason: str | None
    received_time: datetime | None
    event_time: datetime | None

    @property
    def succeeded(self) -> bool:
        return self.status == COMPLETED

    @property
    def latency_ms(self) -> float | None:
        """From the endpoint receiving the request to its answer: queueing (and any scale-up from
        zero) included."""
        if self.received_time is None or self.event_time is None:
            return None
        return round((self.event_time - self.received_time).total_seconds() * 1000, 1)

    @property
    def model_status(self) -> int | None:
        """The HTTP status the model container answered with, where the failure reason names one
        ("... Received client error (400) from model ...")."""
        found = re.search(r"(?:client|server) error \((\d{3})\)", self.failure_reason or "")
        return int(found.group(1)) if found else None

    @classmethod
    def from_json(cls, body: str) -> Notification:
        """The notification in an SQS message body. SNS delivers it as is (raw message delivery); an
        SNS envelope, as sent without raw delivery, is unwrapped."""
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and payload.get("Type") == "Notification" and "Message" in payload:
                payload = json.loads(payload["Message"])
        except (TypeError, ValueError) as error:
            raise InvalidRequest(f"not an inference notification: {error}") from error
        if not isinstance(payload, dict):
            raise InvalidRequest("not an inference notification: not a JSON object")
        return cls._from_payload(payload)

    @classmethod
    def _from_payload(cls, payload: dict[str, Any]) -> Notification:
        status = payload.get("invocationStatus")
        if status not in (COMPLETED, FAILED):
            raise InvalidRequest(f"not an inference notification: invocationStatus {status!r}")
        request = payload.get("requestParameters") or {}
        response = payload.get("responseParameters") or {}
        inference_id, input_location = payload.get("inferenceId"), request.get("inputLocation")
        if not isinstance(inference_id, str) or not isinstance(input_location, str):
            raise InvalidRequest("inference notification lacks inferenceId or inputLocation")
        output = response.get("outputLocation")
        if status == COMPLETED and not isinstance(output, str):
            raise InvalidRequest("completed inference notification lacks outputLocation")
        return cls(
            status=status,
            inference_id=inference_id,
            input_location=input_location,
            output_location=output if isinstance(output, str) else None,
            failure_location=payload.get("failureLocation") or response.get("failureLocation"),
            failure_reason=payload.get("failureReason"),
            received_time=_timestamp(payload.get("receivedTime")),
            event_time=_timestamp(payload.get("eventTime")),
        )


def _timestamp(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def is_async_key(key: str) -> bool:
    """A key the endpoint or the processor writes for asynchronous inference, safe to delete."""
    return key.startswith((ASYNC_INPUT_PREFIX, ASYNC_OUTPUT_PREFIX, ASYNC_FAILURES_PREFIX))
