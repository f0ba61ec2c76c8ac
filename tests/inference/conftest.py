"""A tiny, randomly initialised Depth-Anything-V2 built from the real transformers classes, saved with
save_pretrained and loaded through the production code path, plus the servers around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from depth_inference.engine import DepthEngine
from depth_inference.server import ServerSettings, create_app
from tests.inference.helpers import wait_until_ready


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> DepthEngine:
    """Loaded as production resolves a model: DEPTH_MODEL, with no model in SM_MODEL_DIR."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTH_MODEL", str(tiny_model_dir))
        patch.setenv("SM_MODEL_DIR", str(tmp_path_factory.mktemp("empty-sagemaker-model-dir")))
        return DepthEngine.load()


@pytest.fixture
def make_client(engine: DepthEngine) -> Iterator[Callable[..., TestClient]]:
    """Clients on fresh apps around the session's engine; the app's lifespan runs, /ping turns 200."""
    clients: list[TestClient] = []

    def make(batch_window_ms: float = 5.0, max_batch_size: int = 8) -> TestClient:
        client = TestClient(create_app(lambda: engine, ServerSettings(batch_window_ms, max_batch_size)))
        clients.append(client.__enter__())
        wait_until_ready(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
