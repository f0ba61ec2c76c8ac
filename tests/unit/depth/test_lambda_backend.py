"""The Lambda depth backend: the request it sends, and how it rides out throttling and failures, as the
SageMaker backend does (the same retry loop, the same errors for the same situations)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from immichvr_depth.depth import backends
from immichvr_depth.depth.backends import (
    LAMBDA_ANSWERS_PREFIX,
    DepthBackendUnavailable,
    LambdaBackend,
    backend_from_settings,
    register_backend,
    submits_asynchronously,
)
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage, UpstreamError
from immichvr_depth.platform.settings import Settings

FUNCTION = "immichvr-depth-DepthInferenceFunction-abc123"
BUCKET = "immichvr-depth-123456789012-us-east-1"
PNG = b"\x89PNG\r\n\x1a\nfake-depth"
JPEG = b"jpeg-bytes"
FIXED_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
ANSWER_KEY = f"{LAMBDA_ANSWERS_PREFIX}{FIXED_ID.hex}.png"


@pytest.fixture
def client() -> Any:
    return aws.new_session().client("lambda", region_name="us-east-1")


@pytest.fixture
def stubbed(client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setattr(backends.uuid, "uuid4", lambda: FIXED_ID)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def backend(client: Any) -> LambdaBackend:
    return LambdaBackend(FUNCTION, answers_bucket=BUCKET, client=lambda: client, attempts=3, base_delay_s=0.0)


def _expected_request(input_size: int = 518) -> dict[str, object]:
    event = {
        "image": base64.b64encode(JPEG).decode(),
        "content_type": "image/jpeg",
        "input_size": input_size,
        "answer_location": f"s3://{BUCKET}/{ANSWER_KEY}",
    }
    return {
        "FunctionName": FUNCTION,
        "InvocationType": "RequestResponse",
        "Payload": json.dumps(event).encode(),
    }


def _answer(body: dict[str, Any], function_error: str | None = None) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(raw), len(raw))}
    if function_error:
        response["FunctionError"] = function_error
    return response


def _success(**extra: Any) -> dict[str, Any]:
    return _answer(
        {
            "png": base64.b64encode(PNG).decode(),
            "model_name": "depth-anything-v2",
            "model_version": "small",
            "input_size": 518,
            "depth_min": 0.1,
            "depth_max": 9.5,
            "width": 686,
            "height": 518,
        }
        | extra
    )


def test_sends_the_image_with_its_type_and_input_size_and_reads_the_model_facts(
    stubbed: Stubber, client: Any
) -> None:
    stubbed.add_response("invoke", _success(), _expected_request())

    prediction = backend(client).estimate(JPEG, "image/jpeg", 518)

    assert prediction.png == PNG
    assert (prediction.model_name, prediction.model_version, prediction.input_size) == (
        "depth-anything-v2",
        "small",
        518,
    )


def test_retries_throttling_and_lambda_failures_then_succeeds(stubbed: Stubber, client: Any) -> None:
    # Reserved concurrency reached, Lambda failing on its side, the function still being deployed.
    stubbed.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
    stubbed.add_client_error("invoke", "ServiceException", http_status_code=500)
    stubbed.add_response("invoke", _success(), _expected_request())

    assert backend(client).estimate(JPEG, "image/jpeg", 518).png == PNG


def test_gives_up_after_its_attempts_with_a_retryable_error(stubbed: Stubber, client: Any) -> None:
    for _ in range(3):
        stubbed.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)

    with pytest.raises(DepthBackendUnavailable, match=f"Lambda function {FUNCTION} .* after 3 attempts"):
        backend(client).estimate(JPEG, "image/jpeg", 518)


def test_an_unhandled_error_in_the_function_is_a_transient_failure(stubbed: Stubber, client: Any) -> None:
    crash = {"errorMessage": "Task timed out after 60.00 seconds", "errorType": "Sandbox.Timedout"}
    stubbed.add_response("invoke", _answer(crash, function_error="Unhandled"), _expected_request())

    with pytest.raises(DepthBackendUnavailable, match=r"Sandbox\.Timedout.*Task timed out"):
        backend(client).estimate(JPEG, "image/jpeg", 518)


def test_a_refusal_by_the_model_is_a_bad_image_not_worth_retrying(stubbed: Stubber, client: Any) -> None:
    refusal = {"error": {"code": "invalid_input", "status": 400, "message": "not an image"}}
    stubbed.add_response("invoke", _answer(refusal), _expected_request())

    with pytest.raises(InvalidImage, match="the depth model rejected the image: not an image"):
        backend(client).estimate(JPEG, "image/jpeg", 518)


def test_a_5xx_from_the_model_is_a_transient_failure(stubbed: Stubber, client: Any) -> None:
    failure = {"error": {"code": "internal_error", "status": 500, "message": "out of memory"}}
    stubbed.add_response("invoke", _answer(failure), _expected_request())

    with pytest.raises(DepthBackendUnavailable, match=r"failed \(500\): out of memory"):
        backend(client).estimate(JPEG, "image/jpeg", 518)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ResourceNotFoundException", 404),
        ("AccessDeniedException", 403),
        ("InvalidRequestContentException", 400),
    ],
)
def test_a_refusal_of_the_request_fails_clearly_without_retries(
    stubbed: Stubber, client: Any, code: str, status: int
) -> None:
    stubbed.add_client_error("invoke", code, service_message=f"{code} for x", http_status_code=status)

    with pytest.raises(UpstreamError, match=f"Lambda refused the request: {code}: {code} for x") as raised:
        backend(client).estimate(JPEG, "image/jpeg", 518)
    assert not isinstance(raised.value, DepthBackendUnavailable | InvalidImage)


def test_a_model_input_over_lambdas_request_limit_is_a_bad_image(stubbed: Stubber, client: Any) -> None:
    stubbed.add_client_error("invoke", "RequestTooLargeException", http_status_code=413)

    with pytest.raises(InvalidImage, match="too large for Lambda's 6 MB request"):
        backend(client).estimate(JPEG, "image/jpeg", 518)


def test_an_answer_that_is_not_json_or_has_no_map_is_an_upstream_error(stubbed: Stubber, client: Any) -> None:
    raw = b"<html>"
    stubbed.add_response(
        "invoke",
        {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(raw), len(raw))},
        _expected_request(),
    )
    stubbed.add_response("invoke", _answer({"model_name": "x"}), _expected_request())

    with pytest.raises(UpstreamError, match="JSON object"):
        backend(client).estimate(JPEG, "image/jpeg", 518)
    with pytest.raises(UpstreamError, match="without a depth map"):
        backend(client).estimate(JPEG, "image/jpeg", 518)


def test_an_answer_too_large_to_return_comes_through_s3_and_is_removed(
    stubbed: Stubber, client: Any, bucket: Any
) -> None:
    bucket.put_object(Bucket=BUCKET, Key=ANSWER_KEY, Body=PNG)
    location = f"s3://{BUCKET}/{ANSWER_KEY}"
    stubbed.add_response(
        "invoke",
        _answer({"png_location": location, "model_name": "depth-anything-v2", "input_size": 1036}),
        _expected_request(1036),
    )

    prediction = backend(client).estimate(JPEG, "image/jpeg", 1036)

    assert (prediction.png, prediction.input_size) == (PNG, 1036)
    assert bucket.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_reads_a_spilled_answer_only_from_the_location_it_gave(stubbed: Stubber, client: Any) -> None:
    elsewhere = f"s3://{BUCKET}/depth-maps/someone-elses.png"
    stubbed.add_response("invoke", _answer({"png_location": elsewhere}), _expected_request())

    with pytest.raises(UpstreamError, match="without a depth map"):
        backend(client).estimate(JPEG, "image/jpeg", 518)


def test_refuses_to_start_without_a_function_name() -> None:
    with pytest.raises(UpstreamError, match="DEPTH_INFERENCE_FUNCTION_NAME"):
        LambdaBackend("", answers_bucket=BUCKET)


def _settings(**values: Any) -> Settings:
    return dataclasses.replace(Settings.from_env(), **values)


def test_depth_backend_lambda_invokes_the_function_the_settings_name() -> None:
    chosen = backend_from_settings(
        _settings(depth_backend="lambda", depth_inference_function_name=FUNCTION, media_bucket=BUCKET)
    )

    assert isinstance(chosen, LambdaBackend)
    assert (chosen.function_name, chosen.answers_bucket) == (FUNCTION, BUCKET)


def test_the_lambda_backend_is_synchronous_whatever_the_inference_mode() -> None:
    assert not submits_asynchronously(_settings(depth_backend="lambda", inference_mode="async"))
    assert submits_asynchronously(_settings(depth_backend="sagemaker", inference_mode="async"))
    assert not submits_asynchronously(_settings(depth_backend="sagemaker", inference_mode="realtime"))
    with pytest.raises(ValueError, match="synchronously"):
        register_backend("lambda", asynchronous=lambda _settings: None)  # type: ignore[arg-type,return-value]


def test_the_lambda_client_makes_one_attempt_and_waits_past_the_functions_timeout() -> None:
    config = backends.lambda_client().meta.config  # type: ignore[attr-defined]

    assert config.retries["total_max_attempts"] == 1
    assert config.read_timeout == backends.LAMBDA_READ_TIMEOUT_S
