"""A tiny, randomly initialised Depth-Anything-V2 built from the real transformers classes, saved with
save_pretrained and loaded through the production code path, plus the servers around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from depth_inference.engine import DepthEngine
from depth_inference.server import ServerSettings, create_app
from starlette.testclient import TestClient
from transformers import DepthAnythingForDepthEstimation

from tests.inference.helpers import dpt_processor, tiny_config, wait_until_ready


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(tiny_config())
    with torch.no_grad():
        # transformers' initialisation (std 0.02) leaves a model this small with an almost flat output;
        # He-initialised convolutions give depth maps with real structure to compare.
        for module in [*model.neck.modules(), *model.head.modules()]:
            if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        output_bias = model.head.conv3.bias
        assert output_bias is not None
        output_bias.fill_(1.0)  # depth starts positive, clear of the final ReLU
        # Random 14x14 patch filters make an untrained model chaotic: a one-level difference in a pixel
        # moves the output by percents. Trained filters are smooth; filters flat over the patch are too,
        # so the model reacts to image content as a trained one does, not to rounding noise.
        projection = model.backbone.embeddings.patch_embeddings.projection
        out_channels, in_channels, height, width = projection.weight.shape
        mixing = torch.randn(out_channels, in_channels, 1, 1) / (height * width)
        projection.weight.copy_(mixing.expand_as(projection.weight))
    directory = tmp_path_factory.mktemp("tiny-depth-anything-v2")
    model.save_pretrained(directory)
    dpt_processor().save_pretrained(directory)
    return directory


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
