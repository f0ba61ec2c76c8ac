"""DEPTH_BACKEND=lambda in the local runner: the depth inference function's own handler, invoked in
process through the same Lambda backend the processor uses in AWS, with Lambda's ways of failing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from depth_inference.engine import DepthEngine
from depth_inference.lambda_handler import DepthFunction
from immichvr_depth.depth.backends import (
    LAMBDA_ANSWERS_PREFIX,
    DepthBackendUnavailable,
    LambdaBackend,
    backend_from_settings,
    unregister_backend,
)
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage
from immichvr_local.depth_backend import InProcessLambda, local_engine, register_lambda_backend
from tests.conftest import reset_shared_caches
from tests.support.images import jpeg_bytes

BUCKET = "immichvr-local-media"


@pytest.fixture
def engine(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DepthEngine]:
    monkeypatch.setenv("DEPTH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    monkeypatch.setenv("DEPTH_BACKEND", "lambda")
    reset_shared_caches()
    yield local_engine()
    unregister_backend("lambda")
    reset_shared_caches()


def in_process(function: Any, concurrency: int | None = None) -> LambdaBackend:
    invoker = InProcessLambda(function, concurrency)
    return LambdaBackend("local", answers_bucket=BUCKET, client=lambda: invoker, attempts=2, base_delay_s=0.0)


def test_the_runners_lambda_backend_answers_what_the_model_answers(engine: DepthEngine) -> None:
    register_lambda_backend()
    photo = jpeg_bytes(200, 150)

    backend = backend_from_settings()
    prediction = backend.estimate(photo, "image/jpeg", 70)

    assert isinstance(backend, LambdaBackend)
    expected = engine.predict(photo, input_size=70)
    assert prediction.png == expected.png
    assert (prediction.model_name, prediction.model_version, prediction.input_size) == (
        expected.model_name,
        expected.model_version,
        70,
    )


def test_a_refusal_by_the_model_is_a_bad_image(engine: DepthEngine) -> None:
    with pytest.raises(InvalidImage, match="the depth model rejected the image"):
        in_process(DepthFunction(lambda: engine)).estimate(b"not an image", "image/jpeg", 70)


def test_an_exception_in_the_handler_is_lambdas_unhandled_function_error() -> None:
    def crash(_event: Any, _context: object) -> Any:
        raise MemoryError("Runtime exited with error: signal: killed")

    with pytest.raises(DepthBackendUnavailable, match=r"failed \(MemoryError\): Runtime exited"):
        in_process(crash).estimate(b"jpeg", "image/jpeg", 70)


def test_a_request_over_6_mb_is_refused_before_the_handler_runs() -> None:
    def never(_event: Any, _context: object) -> Any:
        raise AssertionError("the handler must not run")

    with pytest.raises(InvalidImage, match="6 MB request"):
        in_process(never).estimate(b"x" * (5 * 1024 * 1024), "image/jpeg", 70)


def test_invocations_past_the_reserved_concurrency_are_throttled() -> None:
    inside, release = threading.Event(), threading.Event()

    def slow(_event: Any, _context: object) -> Any:
        inside.set()
        release.wait(10)
        return {"png": "", "model_name": "m"}

    invoker = InProcessLambda(slow, concurrency=1)
    first = threading.Thread(target=invoker.invoke, kwargs={"Payload": b"{}"})
    first.start()
    assert inside.wait(10)
    try:
        with pytest.raises(ClientError) as throttled:
            invoker.invoke(Payload=b"{}")
        assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    finally:
        release.set()
        first.join(10)
    assert invoker.invoke(Payload=b"{}")["StatusCode"] == 200  # the slot is free again


def test_an_answer_too_large_for_lambda_comes_through_s3_and_is_removed(
    engine: DepthEngine, bucket: Any
) -> None:
    photo = jpeg_bytes(200, 150)
    function = DepthFunction(lambda: engine, max_inline_answer_bytes=1000, s3_client=aws.s3)

    prediction = in_process(function).estimate(photo, "image/jpeg", 70)

    assert prediction.png == engine.predict(photo, input_size=70).png
    assert bucket.list_objects_v2(Bucket=BUCKET, Prefix=LAMBDA_ANSWERS_PREFIX).get("KeyCount") == 0
