"""Lambda's asynchronous invocation, locally: how S3 invokes a function.

Each event is invoked on its own, up to as many at once as the function has instances, so one that fails
or hangs holds up no other. A function error is retried as the function's EventInvokeConfig says
(MaximumRetryAttempts, Lambda's default 2: three attempts in all); Lambda waits about a minute before
the first retry and two before the second, the runner `retry_delay_s` and twice that
(IMMICHVR_LOCAL_ASYNC_RETRY_DELAY_S, 1 s by default). An event that still fails, or outlives
MaximumEventAgeInSeconds, goes to the OnFailure destination with the record Lambda sends there; one
that succeeds to OnSuccess, if the template names one.

S3's notifications reach the runner through a queue (stack.py `deliver_bucket_events`);
`S3EventSource` takes each message off it at once, as Lambda's own event queue accepts an event, and
hands it to the function's `AsyncInvoker`."""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from immichvr_local.logs import logger
from immichvr_local.stack import ACCOUNT_ID, REGION

if TYPE_CHECKING:
    from immichvr_local.intrinsics import Resolver
    from immichvr_local.stack import LocalStack
    from immichvr_local.template import FunctionSpec

RETRY_DELAY_VARIABLE = "IMMICHVR_LOCAL_ASYNC_RETRY_DELAY_S"
DEFAULT_RETRY_DELAY_S = 1.0
# Lambda's defaults, where EventInvokeConfig says nothing.
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_S = 6 * 60 * 60


def retry_delay_from_environment() -> float:
    return float(os.environ.get(RETRY_DELAY_VARIABLE) or DEFAULT_RETRY_DELAY_S)


class Invocable(Protocol):
    """What a function pool offers here: its spec, how many calls it takes at once, and a call."""

    spec: FunctionSpec
    size: int

    def invoke(self, event: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class Destination:
    type: str  # SQS, SNS, Lambda or EventBridge; the runner delivers to the first two
    arn: str


@dataclass(frozen=True)
class InvokeConfig:
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_s: int = DEFAULT_MAXIMUM_EVENT_AGE_S
    on_success: Destination | None = None
    on_failure: Destination | None = None

    @classmethod
    def of(cls, spec: FunctionSpec, resolver: Resolver) -> InvokeConfig:
        """The function's EventInvokeConfig in template.yaml, its references resolved in the local stack."""
        config = resolver.resolve(spec.event_invoke_config) or {}
        destinations = config.get("DestinationConfig") or {}

        def destination(name: str) -> Destination | None:
            target = destinations.get(name)
            return Destination(str(target["Type"]), str(target["Destination"])) if target else None

        return cls(
            maximum_retry_attempts=int(config.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS)),
            maximum_event_age_s=int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_S)),
            on_success=destination("OnSuccess"),
            on_failure=destination("OnFailure"),
        )


@dataclass
class _Invocation:
    event: dict[str, Any]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    accepted: float = field(default_factory=time.monotonic)
    attempts: int = 0


class AsyncInvoker:
    """One function's queue of asynchronous invocations."""

    def __init__(
        self,
        pool: Invocable,
        config: InvokeConfig,
        stack: LocalStack,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
    ) -> None:
        self.pool = pool
        self.config = config
        self.stack = stack
        self.retry_delay_s = retry_delay_s
        self.function = pool.spec.logical_id
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, pool.size), thread_name_prefix=f"async-{self.function}"
        )
        self._retries: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def submit(self, event: dict[str, Any]) -> None:
        self._start(_Invocation(event))

    def _start(self, invocation: _Invocation) -> None:
        try:
            self._executor.submit(self._attempt, invocation)
        except RuntimeError:  # stopped meanwhile: the runner is going away, and its queues with it
            logger.warning("asynchronous invocation dropped: the runner is stopping", function=self.function)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            retries, self._retries = self._retries, set()
        for timer in retries:
            timer.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _attempt(self, invocation: _Invocation) -> None:
        invocation.attempts += 1
        try:
            response = self.pool.invoke(invocation.event)
        except Exception as error:
            self._failed(invocation, error)
        else:
            if self.config.on_success is not None:
                self._send(self.config.on_success, self._record(invocation, "Success", response, error=False))

    def _failed(self, invocation: _Invocation, error: Exception) -> None:
        payload = {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": invocation.request_id,
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
        delay = self.retry_delay_s * 2 ** (invocation.attempts - 1)
        too_old = time.monotonic() - invocation.accepted + delay > self.config.maximum_event_age_s
        if invocation.attempts > self.config.maximum_retry_attempts or too_old:
            condition = "EventAgeExceeded" if too_old else "RetriesExhausted"
            self._give_up(invocation, condition, payload)
            return
        logger.warning(
            "asynchronous invocation failed; Lambda retries it",
            function=self.function,
            attempt=invocation.attempts,
            retry_in_s=delay,
            error=payload["errorMessage"],
        )
        with self._lock:
            if self._stopping:
                return
            timer = threading.Timer(delay, self._retry, args=(invocation,))
            timer.daemon = True
            self._retries.add(timer)
        timer.start()

    def _retry(self, invocation: _Invocation) -> None:
        with self._lock:
            this_timer = threading.current_thread()
            self._retries = {timer for timer in self._retries if timer is not this_timer}
            if self._stopping:
                return
        self._start(invocation)

    def _give_up(self, invocation: _Invocation, condition: str, payload: dict[str, Any]) -> None:
        destination = self.config.on_failure
        logger.error(
            "asynchronous invocation failed for good",
            function=self.function,
            attempts=invocation.attempts,
            condition=condition,
            destination=destination.arn if destination else None,
            error=payload["errorMessage"],
        )
        if destination is not None:
            self._send(destination, self._record(invocation, condition, payload, error=True))

    def _record(
        self, invocation: _Invocation, condition: str, response: Any, *, error: bool
    ) -> dict[str, Any]:
        """The invocation record Lambda sends to a destination."""
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if error:
            context["functionError"] = "Unhandled"
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function}:$LATEST"
        return {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": arn,
                "condition": condition,
                "approximateInvokeCount": invocation.attempts,
            },
            "requestPayload": invocation.event,
            "responseContext": context,
            "responsePayload": response,
        }

    def _send(self, destination: Destination, record: dict[str, Any]) -> None:
        body = json.dumps(record, default=str)
        try:
            if destination.type == "SQS":
                queue_url = self.stack.queue_url_for_arn(destination.arn)
                self.stack.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)
            elif destination.type == "SNS":
                self.stack.client("sns").publish(TopicArn=destination.arn, Message=body)
            else:
                logger.warning(
                    "destination type not emulated locally", type=destination.type, arn=destination.arn
                )
        except Exception:
            logger.exception(
                "could not deliver to the destination", function=self.function, arn=destination.arn
            )


class S3EventSource(threading.Thread):
    """S3's notifications for one function, off the queue the runner routes them through: each message
    is one asynchronous invocation, taken off the queue at once (its retries are the invoker's)."""

    def __init__(self, sqs: Any, queue_url: str, invoker: AsyncInvoker) -> None:
        super().__init__(name=f"s3-events-{invoker.function}", daemon=True)
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoker = invoker
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()
        self.invoker.stop()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once(wait_s=1)
            except Exception:
                logger.exception("S3 event poll failed", function=self.invoker.function)
                self.stopping.wait(1)

    def poll_once(self, wait_s: int = 0) -> int:
        """Accept what the queue holds (up to 10 events); returns how many messages it took."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
        ).get("Messages", [])
        for message in messages:
            try:
                event = json.loads(message["Body"])
            except ValueError:
                logger.error("S3 notification that is no JSON dropped", function=self.invoker.function)
                event = None
            # S3 sends a queue a test event when its notifications are set; a function never gets one.
            if isinstance(event, dict) and event.get("Event") != "s3:TestEvent":
                self.invoker.submit(event)
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)
