"""Where depth comes from: a SageMaker endpoint, real-time or asynchronous, or a backend registered by
name (the local runner registers its in-process model and its emulated asynchronous endpoint). Every
backend answers the same way: a 16-bit PNG plus the facts of the model that made it."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from botocore.exceptions import ClientError

from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage, UpstreamError, UpstreamTimeout
from immichvr_depth.platform.settings import Settings, get_settings

_Answer = TypeVar("_Answer")
_Backend = TypeVar("_Backend")


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
    `input_size` is what was asked for, used when the file carries no `input_size` text."""
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
    """A real-time SageMaker endpoint: InvokeEndpoint, retried with jittered backoff while the endpoint
    is throttled, not ready or failing on its side."""

    def __init__(self, endpoint_name: str, *, attempts: int = 5, base_delay_s: float = 0.5) -> None:
        if not endpoint_name:
            raise UpstreamError("SAGEMAKER_ENDPOINT_NAME is not set; no endpoint to send images to")
        self.endpoint_name = endpoint_name
        self.attempts = attempts
        self.base_delay_s = base_delay_s

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        response = self._call(
            lambda: aws.sagemaker_runtime().invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType=content_type,
                Accept="image/png",
                Body=body,
                CustomAttributes=f"input_size={input_size}",
            )
        )
        facts = parse_custom_attributes(response.get("CustomAttributes", ""))
        return DepthPrediction(
            png=response["Body"].read(),
            model_name=facts.get("model_name", "unknown"),
            model_version=facts.get("model_version", "unknown"),
            input_size=int(facts.get("input_size", input_size)),
        )

    def _call(self, invoke: Callable[[], _Answer]) -> _Answer:
        """`invoke`, tried up to `attempts` times while SageMaker answers with a retryable error."""
        for attempt in range(1, self.attempts + 1):
            try:
                return invoke()
            except ClientError as error:
                self._raise_unless_retryable(error, attempt)
                # Full jitter keeps many processor Lambdas from retrying in lockstep.
                time.sleep(random.uniform(0, self.base_delay_s * 2 ** (attempt - 1)))  # noqa: S311
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
        self._call(
            lambda: aws.sagemaker_runtime().invoke_endpoint_async(
                EndpointName=self.endpoint_name,
                InputLocation=invocation.input_location,
                ContentType=invocation.content_type,
                Accept="image/png",
                CustomAttributes=f"input_size={invocation.input_size}",
                InferenceId=invocation.inference_id,
            )
        )


SAGEMAKER = "sagemaker"

# Backends other than SageMaker, by the DEPTH_BACKEND name that selects them. They are registered
# by whoever runs the functions outside AWS (the local runner), never by the functions themselves.
_realtime_backends: dict[str, Callable[[Settings], DepthBackend]] = {}
_async_backends: dict[str, Callable[[Settings], AsyncDepthBackend]] = {}


def register_backend(
    name: str,
    *,
    realtime: Callable[[Settings], DepthBackend] | None = None,
    asynchronous: Callable[[Settings], AsyncDepthBackend] | None = None,
) -> None:
    """Make DEPTH_BACKEND=`name` select these backends (each made from the settings when asked for)."""
    if name == SAGEMAKER:
        raise ValueError(f"{SAGEMAKER!r} is built in and cannot be replaced")
    if realtime is not None:
        _realtime_backends[name] = realtime
    if asynchronous is not None:
        _async_backends[name] = asynchronous


def unregister_backend(name: str, *, asynchronous_only: bool = False) -> None:
    """Forget the backends registered under `name` (only its asynchronous one with `asynchronous_only`)."""
    _async_backends.pop(name, None)
    if not asynchronous_only:
        _realtime_backends.pop(name, None)


def _chosen(settings: Settings, registered: dict[str, Callable[[Settings], _Backend]], mode: str) -> _Backend:
    factory = registered.get(settings.depth_backend)
    if factory is None:
        names = ", ".join(repr(name) for name in [SAGEMAKER, *sorted(registered)])
        raise UpstreamError(
            f"DEPTH_BACKEND {settings.depth_backend!r} has no {mode} backend in this process; "
            f"the {mode} backends here are: {names}"
        )
    return factory(settings)


def backend_from_settings(settings: Settings | None = None) -> DepthBackend:
    settings = settings or get_settings()
    if settings.depth_backend == SAGEMAKER:
        return SageMakerBackend(settings.sagemaker_endpoint_name)
    return _chosen(settings, _realtime_backends, "real-time")


def async_backend_from_settings(settings: Settings | None = None) -> AsyncDepthBackend:
    settings = settings or get_settings()
    if settings.depth_backend == SAGEMAKER:
        return SageMakerAsyncBackend(settings.sagemaker_endpoint_name)
    return _chosen(settings, _async_backends, "asynchronous")
