"""The runner's depth backends, registered into the shared package: DEPTH_BACKEND=local, the inference
container's own model code run in this process, and the emulated asynchronous endpoint (see
async_endpoint.py) for INFERENCE_MODE=async; DEPTH_BACKEND=lambda, the depth inference function's own
handler (depth_inference.lambda_handler, what the image runs) invoked in this process through the same
Lambda backend the processor uses in AWS."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from immichvr_depth.depth.backends import (
    LAMBDA,
    LAMBDA_PAYLOAD_LIMIT,
    AsyncDepthBackend,
    DepthPrediction,
    LambdaBackend,
    register_backend,
    unregister_backend,
)
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage
from immichvr_depth.platform.settings import Settings, get_settings
from immichvr_local.logs import logger

if TYPE_CHECKING:
    from depth_inference.engine import DepthEngine

LOCAL = "local"


class InProcessBackend:
    """The inference container's model code, run in this process: same input, same PNG, same facts."""

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
def _loaded(model_source: str) -> InProcessBackend:
    from depth_inference.engine import DepthEngine

    return InProcessBackend(DepthEngine.load(model_source or None, device="cpu"))


def local_engine(settings: Settings | None = None) -> DepthEngine:
    """The in-process model (loaded once per model source) that both local backends run."""
    return _loaded((settings or get_settings()).depth_model).engine


def register_in_process_backend() -> None:
    """DEPTH_BACKEND=local runs the model in this process (loaded at first use, once per model)."""
    register_backend(LOCAL, realtime=lambda settings: _loaded(settings.depth_model))


def register_async_endpoint(endpoint: AsyncDepthBackend | None) -> None:
    """With INFERENCE_MODE=async, DEPTH_BACKEND=local submits to `endpoint` (None: to nothing)."""
    if endpoint is None:
        unregister_backend(LOCAL, asynchronous_only=True)
    else:
        register_backend(LOCAL, asynchronous=lambda _settings: endpoint)


LOCAL_FUNCTION_NAME = "immichvr-local-depth-inference"


class InProcessLambda:
    """Lambda's Invoke (RequestResponse) of the depth inference function, run in this process: the
    JSON event in, the handler's answer out, and Lambda's ways of failing: a request over 6 MB is
    refused (RequestTooLargeException), more invocations at once than the function's reserved
    concurrency are throttled (TooManyRequestsException), and an exception in the handler, or an
    answer over 6 MB, comes back as FunctionError "Unhandled" with Lambda's error payload."""

    def __init__(
        self, handler: Callable[[Mapping[str, Any], object], Any], concurrency: int | None = None
    ) -> None:
        self._handler = handler
        # None: no reserved concurrency (the processor's own concurrency bounds the invocations).
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency else None

    def invoke(self, **request: Any) -> Mapping[str, Any]:
        payload = bytes(request["Payload"])
        if len(payload) > LAMBDA_PAYLOAD_LIMIT:
            raise _lambda_error("RequestTooLargeException", 413, "Request must be smaller than 6291456 bytes")
        if self._slots is not None and not self._slots.acquire(blocking=False):
            raise _lambda_error("TooManyRequestsException", 429, "Rate Exceeded.")
        started = time.perf_counter()
        try:
            answer = json.dumps(self._handler(json.loads(payload), None)).encode()
        except Exception as error:  # Lambda reports the handler's exception to the caller, as here
            return _unhandled(type(error).__name__, str(error))
        finally:
            if self._slots is not None:
                self._slots.release()
            # Lambda's REPORT line: the duration is what an invocation bills (times its memory).
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.info("depth inference function invoked", duration_ms=duration_ms)
        if len(answer) > LAMBDA_PAYLOAD_LIMIT:
            return _unhandled(
                "Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed"
            )
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": io.BytesIO(answer)}


def _unhandled(error_type: str, message: str) -> Mapping[str, Any]:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(body)}


def _lambda_error(code: str, status: int, message: str) -> ClientError:
    metadata = {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4()), "HTTPHeaders": {}}
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata},  # type: ignore[typeddict-item]
        "Invoke",
    )


@cache
def _in_process_function(model_source: str, concurrency: int | None) -> InProcessLambda:
    from depth_inference.lambda_handler import DepthFunction

    # The function's handler on the runner's engine (loaded once, shared with DEPTH_BACKEND=local),
    # writing an answer too large to return inline to the local stack's S3, as the function writes to S3.
    function = DepthFunction(lambda: _loaded(model_source).engine, s3_client=aws.s3)
    return InProcessLambda(function, concurrency)


def register_lambda_backend(concurrency: int | None = None) -> None:
    """DEPTH_BACKEND=lambda invokes the depth inference function's handler in this process, at most
    `concurrency` at a time when given (the template's DepthFunctionMaxConcurrency, its reserved
    concurrency; the model loads at first use, once per model, shared with DEPTH_BACKEND=local)."""

    def backend(settings: Settings) -> LambdaBackend:
        function = _in_process_function(settings.depth_model, concurrency)
        return LambdaBackend(
            settings.depth_inference_function_name or LOCAL_FUNCTION_NAME,
            answers_bucket=settings.media_bucket,
            client=lambda: function,
        )

    register_backend(LAMBDA, realtime=backend)
