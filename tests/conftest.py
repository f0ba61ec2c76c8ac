"""Fixtures every suite shares: an AWS made from template.yaml under moto, and a clean settings cache."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fakes.fake_immich import FakeImmich

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

# Credentials that can only reach moto, and the table names the local stack gives the template's
# tables (the settings bind the models to them when a test uses a table).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "MEDIA_TABLE": "immichvr-local-mediatable",
        "DEPTH_MAPS_TABLE": "immichvr-local-depthmapstable",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ImmichVRDepth",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


def reset_shared_caches() -> None:
    """Forget settings, clients and table connections made under the environment or mock before."""
    from immichvr_depth.platform.aws import reset_clients
    from immichvr_depth.platform.settings import get_settings
    from immichvr_depth.store.tables import DepthMapRecord, ImmichSyncState, MediaItem

    get_settings.cache_clear()
    reset_clients()
    # Clients made under one moto mock must not outlive it.
    for model in (MediaItem, DepthMapRecord, ImmichSyncState):
        model._connection = None


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto in-process, with the buckets, tables and queues of template.yaml and the functions'
    environment set as the template sets it. Yields that environment."""
    from moto import mock_aws

    from immichvr_local.stack import LocalStack
    from immichvr_local.template import Template

    with mock_aws():
        stack = LocalStack(Template.load(), endpoint_url="")
        stack.provision()
        environment = stack.function_environment() | {"DEPTH_BACKEND": "local"}
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        reset_shared_caches()
        yield environment
    reset_shared_caches()


@pytest.fixture
def immich(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FakeImmich]:
    """A fake Immich the functions are pointed at, accepting the module's `IMMICH_KEY`: Immich
    `IMMICH_VERSION` (3.1.0 unless the module names another), with the module's `IMMICH_SETTINGS`
    (environment variables) set too."""
    from tests.support.immich import immich_for_functions

    module = request.module
    with immich_for_functions(
        monkeypatch,
        version=getattr(module, "IMMICH_VERSION", "3.1.0"),
        api_key=module.IMMICH_KEY,
        **getattr(module, "IMMICH_SETTINGS", {}),
    ) as fake:
        yield fake


@pytest.fixture
def written_log() -> Iterator[io.StringIO]:
    """Every line the shared Powertools logger writes during the test, formatted as Lambda gets it."""
    from immichvr_depth.platform.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A save_pretrained directory of a tiny Depth-Anything-V2, for DEPTH_MODEL."""
    from tests.support.tiny_model import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-depth-anything-v2"))
