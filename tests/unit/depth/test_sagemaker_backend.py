"""The SageMaker depth backend: the request it sends, and how it rides out throttling and failures."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from immichvr_depth.depth.backends import DepthBackendUnavailable, SageMakerBackend
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidImage, UpstreamError

ENDPOINT = "immichvr-depth-endpoint"
PNG = b"\x89PNG\r\n\x1a\nfake-depth"


@pytest.fixture
def stubbed() -> Iterator[Stubber]:
    aws.reset_clients()
    with Stubber(aws.sagemaker_runtime()) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    aws.reset_clients()


def _expected_request(input_size: int = 518) -> dict[str, object]:
    return {
        "EndpointName": ENDPOINT,
        "ContentType": "image/jpeg",
        "Accept": "image/png",
        "Body": b"jpeg-bytes",
        "CustomAttributes": f"input_size={input_size}",
    }


def _success() -> dict[str, object]:
    return {
        "Body": StreamingBody(io.BytesIO(PNG), len(PNG)),
        "ContentType": "image/png",
        "CustomAttributes": (
            "model_name=depth-anything-v2,model_version=small,depth_min=0.1,depth_max=9.5,input_size=518"
        ),
    }


def backend() -> SageMakerBackend:
    return SageMakerBackend(ENDPOINT, attempts=3, base_delay_s=0.0)


def test_sends_the_image_with_its_type_and_input_size_and_reads_the_model_facts(stubbed: Stubber) -> None:
    stubbed.add_response("invoke_endpoint", _success(), _expected_request())

    prediction = backend().estimate(b"jpeg-bytes", "image/jpeg", 518)

    assert prediction.png == PNG
    assert (prediction.model_name, prediction.model_version, prediction.input_size) == (
        "depth-anything-v2",
        "small",
        518,
    )


def test_retries_throttling_and_model_not_ready_then_succeeds(stubbed: Stubber) -> None:
    stubbed.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
    stubbed.add_client_error("invoke_endpoint", "ModelNotReadyException", http_status_code=429)
    stubbed.add_response("invoke_endpoint", _success(), _expected_request())

    assert backend().estimate(b"jpeg-bytes", "image/jpeg", 518).png == PNG


def test_gives_up_after_its_attempts_with_a_retryable_error(stubbed: Stubber) -> None:
    for _ in range(3):
        stubbed.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)

    with pytest.raises(DepthBackendUnavailable, match="after 3 attempts"):
        backend().estimate(b"jpeg-bytes", "image/jpeg", 518)


def test_a_4xx_from_the_model_is_a_bad_image_not_worth_retrying(stubbed: Stubber) -> None:
    stubbed.add_client_error(
        "invoke_endpoint",
        "ModelError",
        http_status_code=424,
        response_meta={},
        modeled_fields={"OriginalStatusCode": 415, "OriginalMessage": "not an image"},
    )

    with pytest.raises(InvalidImage, match="not an image"):
        backend().estimate(b"jpeg-bytes", "image/jpeg", 518)


def test_a_5xx_from_the_model_is_a_transient_failure(stubbed: Stubber) -> None:
    stubbed.add_client_error(
        "invoke_endpoint",
        "ModelError",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 500, "OriginalMessage": "CUDA out of memory"},
    )

    with pytest.raises(DepthBackendUnavailable, match="CUDA out of memory"):
        backend().estimate(b"jpeg-bytes", "image/jpeg", 518)


def test_a_refusal_such_as_a_missing_endpoint_fails_clearly_without_retries(stubbed: Stubber) -> None:
    stubbed.add_client_error(
        "invoke_endpoint", "ValidationError", service_message="Endpoint x not found", http_status_code=400
    )

    with pytest.raises(UpstreamError, match="Endpoint x not found"):
        backend().estimate(b"jpeg-bytes", "image/jpeg", 518)


def test_refuses_to_start_without_an_endpoint_name() -> None:
    with pytest.raises(UpstreamError, match="SAGEMAKER_ENDPOINT_NAME"):
        SageMakerBackend("")
