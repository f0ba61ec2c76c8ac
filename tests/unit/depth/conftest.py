"""What the depth backend tests share: an S3 bucket under moto, named by the module's `BUCKET`, for the
answers too large for a Lambda response that travel through S3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import reset_shared_caches


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> Iterator[Any]:
    with mock_aws():
        reset_shared_caches()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=request.module.BUCKET)
        yield s3
    reset_shared_caches()
