"""Where depth comes from: the SageMaker endpoint when deployed, the container's model code in-process
locally. Both answer the same way: a 16-bit PNG plus the facts of the model that made it."""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage, UpstreamError, UpstreamTimeout
from immichvr_depth.platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from depth_inference.engine import DepthEngine


@dataclass(frozen=True)
class DepthPrediction:
    png: bytes
    model_name: str
    model_version: str
    input_size: int


class DepthBackend(Protocol):
    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction: ...


@dataclass(frozen=True)
class AsyncInvocation:
    """One request to an asynchronous endpoint: the model input already waits at `input_location`."""

    inference_id: str
    input_location: str  # s3://bucket/key
    content_type: str
    input_size: int


class AsyncDepthBackend(Protocol):
    """An asynchronous endpoint: takes the request and answers later, through S3 and a notification."""

    def submit(self, invocation: AsyncInvocation) -> None: ...


def prediction_from_png(png: bytes, *, input_size: int) -> DepthPrediction:
    """The prediction an endpoint's output PNG holds: the container writes the model's facts into the
    file as PNG text, since an asynchronous answer reaches us as an S3 object without headers.
    `input_size` is what was asked for, used when the file does not say (an older container)."""
    from PIL import Image, UnidentifiedImageError

    try:
        # Text chunks before the image data are read at open; no pixel is decoded here.
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            facts = {key: value for key, value in image.info.items() if isinstance(value, str)}
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InvalidImage(f"the depth model's answer is not a PNG: {error}") from error
    try:
        answered_size = int(facts.get("input_size", input_size))
    except ValueError:
        answered_size = input_size
    return DepthPrediction(
        png=png,
        model_name=facts.get("model_name", "unknown"),
        model_version=facts.get("model_version", "unknown"),
        input_size=answered_size,
    )


class DepthBackendUnavailable(UpstreamTimeout):
    """The endpoint stayed throttled, not ready or failing through every retry: worth a later retry."""

    code = "depth_backend_unavailable"


def parse_custom_attributes(raw: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in raw.split(",") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


_RETRYABLE = {
    "ThrottlingException",
    "ModelNotReadyException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalDependencyException",
}


class SageMakerBackend:
    def __init__(self, endpoint_name: str, *, attempts: int = 5, base_delay_s: float = 0.5) -> None:
        if not endpoint_name:
            raise UpstreamError("SAGEMAKER_ENDPOINT_NAME is not set; no endpoint to send images to")
        self.endpoint_name = endpoint_name
        self.attempts = attempts
        self.base_delay_s = base_delay_s

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        for attempt in range(1, self.attempts + 1):
            try:
                response = aws.sagemaker_runtime().invoke_endpoint(
                    EndpointName=self.endpoint_name,
                    ContentType=content_type,
                    Accept="image/png",
                    Body=body,
                    CustomAttributes=f"input_size={input_size}",
                )
            except ClientError as error:
                self._raise_unless_retryable(error, attempt)
                # Full jitter keeps many processor Lambdas from retrying in lockstep.
                time.sleep(random.uniform(0, self.base_delay_s * 2 ** (attempt - 1)))  # noqa: S311
                continue
            facts = parse_custom_attributes(response.get("CustomAttributes", ""))
            return DepthPrediction(
                png=response["Body"].read(),
                model_name=facts.get("model_name", "unknown"),
                model_version=facts.get("model_version", "unknown"),
                input_size=int(facts.get("input_size", input_size)),
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_unless_retryable(self, error: ClientError, attempt: int) -> None:
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        if code == "ModelError":
            original_status = int(error.response.get("OriginalStatusCode", 500))  # type: ignore[call-overload]
            message = error.response.get("OriginalMessage", details.get("Message", ""))
            if 400 <= original_status < 500:
                raise InvalidImage(f"the depth model rejected the image: {message}") from error
            raise DepthBackendUnavailable(f"the depth model failed ({original_status}): {message}") from error
        if code not in _RETRYABLE:
            raise UpstreamError(
                f"SageMaker refused the request: {code}: {details.get('Message', '')}"
            ) from error
        if attempt == self.attempts:
            raise DepthBackendUnavailable(
                f"SageMaker endpoint {self.endpoint_name} still answers {code} after {attempt} attempts"
            ) from error


class SageMakerAsyncBackend(SageMakerBackend):
    """An asynchronous SageMaker endpoint: InvokeEndpointAsync queues the request, even while the
    endpoint has no instance (it wakes up for the backlog); the answer comes back as a notification."""

    def submit(self, invocation: AsyncInvocation) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                aws.sagemaker_runtime().invoke_endpoint_async(
                    EndpointName=self.endpoint_name,
                    InputLocation=invocation.input_location,
                    ContentType=invocation.content_type,
                    Accept="image/png",
                    CustomAttributes=f"input_size={invocation.input_size}",
                    InferenceId=invocation.inference_id,
                )
            except ClientError as error:
                self._raise_unless_retryable(error, attempt)
                time.sleep(random.uniform(0, self.base_delay_s * 2 ** (attempt - 1)))  # noqa: S311
                continue
            return
        raise AssertionError("unreachable")  # pragma: no cover


class LocalBackend:
    """The inference container's own model code, run in this process (local runner and tests)."""

    def __init__(self, engine: DepthEngine) -> None:
        self.engine = engine

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        from depth_inference.errors import InvalidInput

        try:
            output = self.engine.predict(body, input_size=input_size)
        except InvalidInput as error:
            raise InvalidImage(f"the depth model rejected the image: {error}") from error
        return DepthPrediction(
            png=output.png,
            model_name=output.model_name,
            model_version=output.model_version,
            input_size=output.input_size,
        )


@cache
def _local_backend(model_source: str) -> LocalBackend:
    from depth_inference.engine import DepthEngine

    return LocalBackend(DepthEngine.load(model_source or None, device="cpu"))


def local_engine(settings: Settings | None = None) -> DepthEngine:
    """The in-process model the local backends run (loaded once per model)."""
    settings = settings or get_settings()
    return _local_backend(settings.depth_model).engine


_local_async_endpoint: list[AsyncDepthBackend] = []


def use_local_async_endpoint(endpoint: AsyncDepthBackend | None) -> None:
    """Install (or, with None, remove) the emulated asynchronous endpoint of the local runner, which
    owns the embedded AWS it answers through; `async_backend_from_settings` hands it out locally."""
    _local_async_endpoint.clear()
    if endpoint is not None:
        _local_async_endpoint.append(endpoint)


def async_backend_from_settings(settings: Settings | None = None) -> AsyncDepthBackend:
    settings = settings or get_settings()
    if settings.depth_backend == "sagemaker":
        return SageMakerAsyncBackend(settings.sagemaker_endpoint_name)
    if settings.depth_backend == "local":
        if not _local_async_endpoint:
            raise UpstreamError(
                "INFERENCE_MODE=async with DEPTH_BACKEND=local needs the local runner's emulated "
                "asynchronous endpoint (start the system with immichvr-local / make run)"
            )
        return _local_async_endpoint[0]
    raise ValueError(f"DEPTH_BACKEND must be 'sagemaker' or 'local', not {settings.depth_backend!r}")


def backend_from_settings(settings: Settings | None = None) -> DepthBackend:
    settings = settings or get_settings()
    if settings.depth_backend == "local":
        return _local_backend(settings.depth_model)
    if settings.depth_backend == "sagemaker":
        return SageMakerBackend(settings.sagemaker_endpoint_name)
    raise ValueError(f"DEPTH_BACKEND must be 'sagemaker' or 'local', not {settings.depth_backend!r}")
