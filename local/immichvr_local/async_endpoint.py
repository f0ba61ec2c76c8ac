"""An asynchronous SageMaker endpoint, emulated in-process for the local runner.

It is configured from template.yaml's own `AsyncInferenceConfig` (output and failure paths, the two
notification topics, the concurrency per instance) and behaves as SageMaker does with it: `submit`
queues the request and returns; a worker thread reads the input from S3, runs the container's model
code (the in-process engine of depth_backend.py), writes the PNG under the output path (or the
error under the failure path) and publishes the notification JSON SageMaker publishes to the success
(error) topic. The embedded AWS delivers it to the completion queue, whose worker invokes the real
completion function.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from immichvr_depth.depth.async_inference import COMPLETED, FAILED, parse_s3_uri
from immichvr_depth.depth.backends import AsyncInvocation
from immichvr_local.logs import logger
from immichvr_local.stack import REGION, LocalStack

if TYPE_CHECKING:
    from depth_inference.engine import DepthEngine

ENDPOINT_NAME = "immichvr-local-async"


@dataclass(frozen=True)
class AsyncConfig:
    output_path: str  # s3://bucket/prefix/
    failure_path: str
    success_topic: str
    error_topic: str
    max_concurrent_invocations: int

    @classmethod
    def from_stack(cls, stack: LocalStack) -> AsyncConfig | None:
        """The endpoint config's AsyncInferenceConfig with the stack's parameters, or None in realtime
        mode (the config's condition does not hold)."""
        configs = stack.template.of_type("AWS::SageMaker::EndpointConfig")
        for body in configs.values():
            raw = body.get("Properties", {}).get("AsyncInferenceConfig")
            if raw is None:
                continue
            resolved = stack.resolver().resolve(raw)
            if not resolved:  # !If [AsyncInference, ..., !Ref AWS::NoValue] in realtime mode
                return None
            output = resolved["OutputConfig"]
            notifications = output["NotificationConfig"]
            return cls(
                output_path=output["S3OutputPath"],
                failure_path=output["S3FailurePath"],
                success_topic=notifications["SuccessTopic"],
                error_topic=notifications["ErrorTopic"],
                max_concurrent_invocations=int(
                    resolved.get("ClientConfig", {}).get("MaxConcurrentInvocationsPerInstance", 1)
                ),
            )
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LocalAsyncEndpoint:
    """An `AsyncDepthBackend`; `depth_backend.register_async_endpoint` makes DEPTH_BACKEND=local use it."""

    def __init__(
        self, config: AsyncConfig, client: Callable[[str], Any], engine: Callable[[], DepthEngine]
    ) -> None:
        self.config = config
        self._client = client
        self._engine = engine
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, config.max_concurrent_invocations), thread_name_prefix="async-endpoint"
        )
        self._lock = threading.Lock()
        self._running: set[Future[None]] = set()

    @classmethod
    def from_stack(cls, stack: LocalStack, engine: Callable[[], DepthEngine]) -> LocalAsyncEndpoint | None:
        config = AsyncConfig.from_stack(stack)
        return None if config is None else cls(config, stack.client, engine)

    def submit(self, invocation: AsyncInvocation) -> None:
        received = _now()
        future = self._executor.submit(self._invoke, invocation, received)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._running.discard(future)

    def wait_idle(self) -> None:
        """Block until every submitted request has been answered and notified."""
        while True:
            with self._lock:
                pending = list(self._running)
            if not pending:
                return
            for future in pending:
                future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- one request, as SageMaker runs it -----------------------------------------------------------

    def _invoke(self, invocation: AsyncInvocation, received: str) -> None:
        request = {
            "contentType": invocation.content_type,
            "customAttributes": f"input_size={invocation.input_size}",
            "endpointName": ENDPOINT_NAME,
            "inputLocation": invocation.input_location,
        }
        try:
            output, status, message = self._run_model(invocation), 200, ""
        except Exception as error:  # every failure becomes the error notification
            output, status, message = None, int(getattr(error, "status", 500)), str(error)
        name = f"{uuid.uuid4()}"
        notification: dict[str, Any] = {
            "awsRegion": REGION,
            "receivedTime": received,
            "inferenceId": invocation.inference_id,
            "requestParameters": request,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        if output is not None:
            location = self._put(self.config.output_path, f"{name}.out", output, "image/png")
            notification |= {
                "invocationStatus": COMPLETED,
                "responseParameters": {"contentType": "image/png", "outputLocation": location},
            }
            topic = self.config.success_topic
        else:
            body = json.dumps({"error": "model_error", "message": message}).encode()
            location = self._put(self.config.failure_path, f"{name}-error.out", body, "application/json")
            kind = "client" if 400 <= status < 500 else "server"
            notification |= {
                "invocationStatus": FAILED,
                "failureReason": (
                    f"ClientError: Received {kind} error ({status}) from model with message "
                    f'"{message}". See the local runner\'s log for more information.'
                ),
                "failureLocation": location,
                "responseParameters": {"contentType": "application/json", "failureLocation": location},
            }
            topic = self.config.error_topic
        notification["eventTime"] = _now()
        self._client("sns").publish(TopicArn=topic, Message=json.dumps(notification))
        logger.info(
            "emulated async endpoint answered",
            inference_id=invocation.inference_id,
            status=notification["invocationStatus"],
        )

    def _run_model(self, invocation: AsyncInvocation) -> bytes:
        bucket, key = parse_s3_uri(invocation.input_location)
        body = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        output = self._engine().predict(body, input_size=invocation.input_size)
        png: bytes = output.png
        return png

    def _put(self, path: str, name: str, body: bytes, content_type: str) -> str:
        bucket, prefix = parse_s3_uri(path)
        key = f"{prefix}{name}"
        self._client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{bucket}/{key}"
