"""boto3 clients, created once per process and reused across invocations (Lambda keeps them warm)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_sqs import SQSClient

# Standard mode retries throttling and transient errors with jittered backoff.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)
# The depth backend retries the endpoint itself (it also waits out ModelNotReady), so botocore must not
# multiply those attempts.
_SINGLE_ATTEMPT = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=70)


# Presigned URLs must be SigV4: newer regions accept nothing else.
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


# Every session reads the same service models (JSON files of hundreds of kB); one loader shared by
# all of them parses each file once per process instead of once per session.
_MODEL_LOADER = botocore.loaders.create_loader()


def new_session() -> boto3.session.Session:
    """A boto3 session of its own (sessions are not thread-safe) that shares the parsed models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _MODEL_LOADER)
    return boto3.session.Session(botocore_session=core)


@cache
def _client(service: str, single_attempt: bool = False) -> Any:
    config = _SINGLE_ATTEMPT if single_attempt else _S3_CONFIG if service == "s3" else _CONFIG
    return new_session().client(service, config=config)  # type: ignore[call-overload]


def s3() -> S3Client:
    client: S3Client = _client("s3")
    return client


def sqs() -> SQSClient:
    client: SQSClient = _client("sqs")
    return client


def sagemaker_runtime() -> SageMakerRuntimeClient:
    client: SageMakerRuntimeClient = _client("sagemaker-runtime", single_attempt=True)
    return client


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def missing_object(error: ClientError) -> bool:
    """S3 has no object under the key (GetObject says NoSuchKey, HeadObject a bare 404)."""
    return _error_code(error) in {"NoSuchKey", "NotFound", "404"}


def precondition_failed(error: ClientError) -> bool:
    """A conditional S3 write (If-None-Match) found an object already there."""
    return _error_code(error) in {"PreconditionFailed", "412"}


def reset_clients() -> None:
    """Forget cached clients, for tests that switch between AWS endpoints."""
    _client.cache_clear()
