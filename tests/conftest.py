"""Fixtures every suite shares: an AWS made from template.yaml under moto, and a clean settings cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A save_pretrained directory of a tiny Depth-Anything-V2, for DEPTH_MODEL."""
    from tests.support.tiny_model import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-depth-anything-v2"))
