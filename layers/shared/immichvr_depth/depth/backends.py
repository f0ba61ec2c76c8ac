"""Where depth comes from: a SageMaker endpoint, real-time or asynchronous, the depth inference Lambda
function, or a backend registered by name (the local runner registers its in-process model, its
emulated asynchronous endpoint and the Lambda function's handler run in-process). Every backend answers
the same way: a 16-bit PNG plus the facts of the model that made it."""

from __future__ import annotations

import base64
import binascii
import io
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, NoReturn, Protocol, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError

from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage, UpstreamError, UpstreamTimeout
from immichvr_depth.platform.settings import Settings, get_settings
from immichvr_depth.store.keys import ASYNC_OUTPUT_PREFIX

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


class _RetryingBackend:
    """The one retry loop of the synchronous backends: a call tried up to `attempts` times while the
    service answers with one of its `retryable` error codes (throttled, not ready, failing on its side),
    with jittered backoff between tries. Each backend says what its service's permanent refusals mean
    (`_raise_if_refused`); any other code outside `retryable` is a refusal of the request itself."""

    service: ClassVar[str]
    retryable: ClassVar[frozenset[str]]

    def __init__(self, *, attempts: int, base_delay_s: float) -> None:
        self.attempts = attempts
        self.base_delay_s = base_delay_s

    @property
    def target(self) -> str:
        """What is called, as messages name it (the endpoint, the function)."""
        raise NotImplementedError

    def _call(self, invoke: Callable[[], _Answer]) -> _Answer:
        """`invoke`, tried up to `attempts` times while the service answers with a retryable error."""
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
        self._raise_if_refused(error, code)
        if code not in self.retryable:
            raise UpstreamError(
                f"{self.service} refused the request: {code}: {details.get('Message', '')}"
            ) from error
        if attempt == self.attempts:
            raise DepthBackendUnavailable(
                f"{self.target} still answers {code} after {attempt} attempts"
            ) from error

    def _raise_if_refused(self, error: ClientError, code: str) -> None:
        """Raise the domain error for a code of this service that says more than "refused"."""


class SageMakerBackend(_RetryingBackend):
    """A real-time SageMaker endpoint: InvokeEndpoint, retried with jittered backoff while the endpoint
    is throttled, not ready or failing on its side."""

    service = "SageMaker"
    retryable = frozenset(
        {
            "ThrottlingException",
            "ModelNotReadyException",
            "ServiceUnavailable",
            "InternalFailure",
            "InternalDependencyException",
        }
    )

    def __init__(self, endpoint_name: str, *, attempts: int = 5, base_delay_s: float = 0.5) -> None:
        if not endpoint_name:
            raise UpstreamError("SAGEMAKER_ENDPOINT_NAME is not set; no endpoint to send images to")
        super().__init__(attempts=attempts, base_delay_s=base_delay_s)
        self.endpoint_name = endpoint_name

    @property
    def target(self) -> str:
        return f"SageMaker endpoint {self.endpoint_name}"

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

    def _raise_if_refused(self, error: ClientError, code: str) -> None:
        if code != "ModelError":
            return
        # The container answered: its 4xx is about the image, its 5xx about itself.
        details = error.response.get("Error", {})
        original_status = int(error.response.get("OriginalStatusCode", 500))  # type: ignore[call-overload]
        message = error.response.get("OriginalMessage", details.get("Message", ""))
        raise_model_refusal(original_status, str(message), error)


def raise_model_refusal(status: int, message: str, cause: Exception | None = None) -> NoReturn:
    """The container's own error answer: a 4xx says the image cannot be served (never worth a retry),
    anything else that the model failed this time."""
    if 400 <= status < 500:
        raise InvalidImage(f"the depth model rejected the image: {message}") from cause
    raise DepthBackendUnavailable(f"the depth model failed ({status}): {message}") from cause


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


# Lambda's synchronous invocation carries at most 6 MB each way (request and answer, JSON).
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
# Where the function leaves an answer too large to come back inline: beside the asynchronous endpoint's
# answers (whose 7-day expiry sweeps any the processor did not delete), under a folder of its own.
LAMBDA_ANSWERS_PREFIX = f"{ASYNC_OUTPUT_PREFIX}lambda/"
# A synchronous invocation lasts as long as the function runs: the client waits past the function's
# timeout (60 s in template.yaml), so that a slow answer is Lambda's timeout error, not the client's.
LAMBDA_READ_TIMEOUT_S = 90
_LAMBDA_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=5,
    read_timeout=LAMBDA_READ_TIMEOUT_S,
)


class LambdaInvoker(Protocol):
    """What the Lambda backend needs of a Lambda client: Invoke (boto3's, or the local runner's)."""

    def invoke(self, **request: Any) -> Mapping[str, Any]: ...


@cache
def lambda_client() -> LambdaInvoker:
    """boto3's Lambda client, single attempt (the backend retries), made once per process."""
    client: LambdaInvoker = aws.new_session().client("lambda", config=_LAMBDA_CLIENT_CONFIG)
    return client


class LambdaBackend(_RetryingBackend):
    """The depth inference Lambda function, invoked synchronously: the model input (base64) with its
    content type and input size in a JSON event; the endpoint's answer (the PNG, base64, and the
    model's facts) back. An answer over Lambda's 6 MB comes through S3 at the location the request
    names, read and deleted here. Throttling (the function's reserved concurrency), Lambda's own
    failures and a function still being deployed are retried; a refusal of the image by the model
    is InvalidImage, as from the endpoint; an unhandled error in the function is a transient failure."""

    service = "Lambda"
    retryable = frozenset(
        {
            "TooManyRequestsException",
            "ServiceException",
            "ResourceNotReadyException",
            "ResourceConflictException",
            "EC2ThrottledException",
            "EC2UnexpectedException",
        }
    )

    def __init__(
        self,
        function_name: str,
        *,
        answers_bucket: str,
        client: Callable[[], LambdaInvoker] = lambda_client,
        attempts: int = 5,
        base_delay_s: float = 0.5,
    ) -> None:
        if not function_name:
            raise UpstreamError(
                "DEPTH_INFERENCE_FUNCTION_NAME is not set; no depth inference function to send images to"
            )
        super().__init__(attempts=attempts, base_delay_s=base_delay_s)
        self.function_name = function_name
        self.answers_bucket = answers_bucket
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> LambdaBackend:
        return cls(settings.depth_inference_function_name, answers_bucket=settings.media_bucket, **options)

    @property
    def target(self) -> str:
        return f"Lambda function {self.function_name}"

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        answer_key = f"{LAMBDA_ANSWERS_PREFIX}{uuid.uuid4().hex}.png"
        event = {
            "image": base64.b64encode(body).decode("ascii"),
            "content_type": content_type,
            "input_size": input_size,
            "answer_location": f"s3://{self.answers_bucket}/{answer_key}",
        }
        payload = json.dumps(event).encode()
        response = self._call(
            lambda: self._client().invoke(
                FunctionName=self.function_name, InvocationType="RequestResponse", Payload=payload
            )
        )
        answer = self._answer_of(response)
        if "png" in answer:
            png = _base64(answer["png"], "png")
        elif answer.get("png_location") == event["answer_location"]:
            png = self._take_spilled_answer(answer_key)
        else:
            raise UpstreamError(f"{self.target} answered without a depth map: {sorted(answer)}")
        return DepthPrediction(
            png=png,
            model_name=str(answer.get("model_name", "unknown")),
            model_version=str(answer.get("model_version", "unknown")),
            input_size=int(answer.get("input_size", input_size)),
        )

    def _answer_of(self, response: Mapping[str, Any]) -> dict[str, Any]:
        """The function's answer, or the error it stands for: an unhandled error (Lambda's
        FunctionError, a crash, a timeout, an answer over 6 MB) is worth a later retry; the
        function's own refusal says, by its status, whether the image or the model is at fault."""
        raw = response["Payload"].read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if response.get("FunctionError"):
            facts = answer if isinstance(answer, dict) else {}
            raise DepthBackendUnavailable(
                f"{self.target} failed ({facts.get('errorType', response['FunctionError'])}): "
                f"{facts.get('errorMessage', raw[:200].decode(errors='replace'))}"
            )
        if not isinstance(answer, dict):
            raise UpstreamError(f"{self.target} answered something other than a JSON object")
        error = answer.get("error")
        if isinstance(error, dict):
            raise_model_refusal(int(error.get("status", 500)), str(error.get("message", "")))
        return answer

    def _raise_if_refused(self, error: ClientError, code: str) -> None:
        if code == "RequestTooLargeException":
            raise InvalidImage(
                f"the model input is too large for Lambda's {LAMBDA_PAYLOAD_LIMIT // 2**20} MB request"
            ) from error

    def _take_spilled_answer(self, key: str) -> bytes:
        s3 = aws.s3()
        png: bytes = s3.get_object(Bucket=self.answers_bucket, Key=key)["Body"].read()
        s3.delete_object(Bucket=self.answers_bucket, Key=key)
        return png


def _base64(value: object, field: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as error:
        raise UpstreamError(f"the depth function's {field} is not base64: {error}") from error


SAGEMAKER = "sagemaker"
LAMBDA = "lambda"

# Backends other than the built-in ones, by the DEPTH_BACKEND name that selects them. They are
# registered by whoever runs the functions outside AWS (the local runner), never by the functions
# themselves. SageMaker cannot be replaced; Lambda can, by the same Lambda backend reaching the
# function's handler in-process instead of through AWS.
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
    if name == LAMBDA and asynchronous is not None:
        raise ValueError(f"{LAMBDA!r} is invoked synchronously; it has no asynchronous backend")
    if realtime is not None:
        _realtime_backends[name] = realtime
    if asynchronous is not None:
        _async_backends[name] = asynchronous


def unregister_backend(name: str, *, asynchronous_only: bool = False) -> None:
    """Forget the backends registered under `name` (only its asynchronous one with `asynchronous_only`)."""
    _async_backends.pop(name, None)
    if not asynchronous_only:
        _realtime_backends.pop(name, None)


def _chosen(
    settings: Settings,
    registered: dict[str, Callable[[Settings], _Backend]],
    mode: str,
    built_in: tuple[str, ...],
) -> _Backend:
    factory = registered.get(settings.depth_backend)
    if factory is None:
        names = ", ".join(repr(name) for name in [*built_in, *sorted(set(registered) - set(built_in))])
        raise UpstreamError(
            f"DEPTH_BACKEND {settings.depth_backend!r} has no {mode} backend in this process; "
            f"the {mode} backends here are: {names}"
        )
    return factory(settings)


def submits_asynchronously(settings: Settings | None = None) -> bool:
    """Whether the processor submits to an asynchronous endpoint rather than waiting for each answer:
    INFERENCE_MODE=async, which the Lambda backend ignores (it is always invoked synchronously)."""
    settings = settings or get_settings()
    return settings.inference_mode == "async" and settings.depth_backend != LAMBDA


def backend_from_settings(settings: Settings | None = None) -> DepthBackend:
    settings = settings or get_settings()
    if settings.depth_backend == SAGEMAKER:
        return SageMakerBackend(settings.sagemaker_endpoint_name)
    if settings.depth_backend == LAMBDA and LAMBDA not in _realtime_backends:
        return LambdaBackend.from_settings(settings)
    return _chosen(settings, _realtime_backends, "real-time", (SAGEMAKER, LAMBDA))


def async_backend_from_settings(settings: Settings | None = None) -> AsyncDepthBackend:
    settings = settings or get_settings()
    if settings.depth_backend == SAGEMAKER:
        return SageMakerAsyncBackend(settings.sagemaker_endpoint_name)
    return _chosen(settings, _async_backends, "asynchronous", (SAGEMAKER,))
