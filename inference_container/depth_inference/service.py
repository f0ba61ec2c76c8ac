"""One image through the batched path: decode in a request thread, infer in a shared batch, encode."""

from __future__ import annotations

import asyncio

from depth_inference.attributes import InvocationParams
from depth_inference.batching import DynamicBatcher
from depth_inference.engine import DepthEngine, DepthMap, DepthOutput, PreparedImage

GPU_MAX_BATCH_SIZE = 8


def default_max_batch_size(engine: DepthEngine) -> int:
    """8 on a GPU; 1 on a CPU, where the model's matrix products are already large enough to keep the
    cores busy and a batch only adds memory traffic (bench/inference.py measured batches slower)."""
    return GPU_MAX_BATCH_SIZE if engine.device.type == "cuda" else 1


class DepthService:
    def __init__(self, engine: DepthEngine, *, window_s: float, max_batch_size: int | None = None) -> None:
        self.engine = engine
        self.batcher: DynamicBatcher[PreparedImage, DepthMap] = DynamicBatcher(
            engine.infer,
            _batch_key,
            window_s=window_s,
            max_batch_size=max_batch_size or default_max_batch_size(engine),
        )

    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()

    async def predict(self, image_bytes: bytes, params: InvocationParams) -> DepthOutput:
        prepared = await asyncio.to_thread(
            self.engine.prepare, image_bytes, params.input_size, params.output_size
        )
        depth = await self.batcher.submit(prepared)
        return await asyncio.to_thread(self.engine.encode, depth)


def _batch_key(item: PreparedImage) -> tuple[int, int]:
    return item.working_size
