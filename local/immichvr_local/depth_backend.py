"""The runner's depth backends, registered into the shared package as DEPTH_BACKEND=local: the
inference container's own model code run in this process, and the emulated asynchronous endpoint
(see async_endpoint.py) for INFERENCE_MODE=async."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from immichvr_depth.depth.backends import (
    AsyncDepthBackend,
    DepthPrediction,
    register_backend,
    unregister_backend,
)
from immichvr_depth.platform.errors import InvalidImage
from immichvr_depth.platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from depth_inference.engine import DepthEngine

LOCAL = "local"


class InProcessBackend:
    """The inference container's model code, run in this process: same input, same PNG, same facts."""

    def __init__(self, engine: DepthEngine) -> None:
        self.engine = engine

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        from depth_inference.errors import InvalidInput

        try:
            output = self.engine.predict(body, input_size=input_size)
        except InvalidInput as error:
            raise InvalidImage(f"the depth model rejected the image: {error}") from error
        return DepthPrediction(
            png=output.png,
            model_name=output.model_name,
            model_version=output.model_version,
            input_size=output.input_size,
        )


@cache
def _loaded(model_source: str) -> InProcessBackend:
    from depth_inference.engine import DepthEngine

    return InProcessBackend(DepthEngine.load(model_source or None, device="cpu"))


def local_engine(settings: Settings | None = None) -> DepthEngine:
    """The in-process model (loaded once per model source) that both local backends run."""
    return _loaded((settings or get_settings()).depth_model).engine


def register_in_process_backend() -> None:
    """DEPTH_BACKEND=local runs the model in this process (loaded at first use, once per model)."""
    register_backend(LOCAL, realtime=lambda settings: _loaded(settings.depth_model))


def register_async_endpoint(endpoint: AsyncDepthBackend | None) -> None:
    """With INFERENCE_MODE=async, DEPTH_BACKEND=local submits to `endpoint` (None: to nothing)."""
    if endpoint is None:
        unregister_backend(LOCAL, asynchronous_only=True)
    else:
        register_backend(LOCAL, asynchronous=lambda _settings: endpoint)
