"""Dynamic batching: concurrent requests share forward passes and each still gets its own answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

from depth_inference.attributes import HEADER
from depth_inference.batching import DynamicBatcher
from depth_inference.engine import DepthEngine
from depth_inference.server import ServerSettings
from depth_inference.service import default_max_batch_size
from tests.inference.helpers import decode_depth
from tests.support.images import jpeg_bytes

INPUT_SIZE = 140


def distinct_images() -> list[bytes]:
    """Images of one size (so one working size) whose content differs, not just their noise: the same
    photo upright, mirrored, rotated by 180 degrees and flipped."""
    return [jpeg_bytes(400, 300, orientation=orientation, seed=orientation) for orientation in (1, 2, 3, 4)]


def as_depth(png: bytes, depth_min: float, depth_max: float) -> np.ndarray:
    return decode_depth(png, depth_min, depth_max)


def test_concurrent_requests_are_batched_and_each_gets_its_own_depth(
    engine: DepthEngine, make_client: Callable[..., TestClient]
) -> None:
    images = distinct_images()
    expected = [engine.predict(image, input_size=INPUT_SIZE) for image in images]
    # A window far longer than the requests take to arrive, so they meet in one batch however slow CI is.
    client = make_client(batch_window_ms=500, max_batch_size=len(images))
    start = threading.Barrier(len(images))

    def invoke(image: bytes) -> tuple[bytes, float, float]:
        start.wait()
        response = client.post(
            "/invocations",
            content=image,
            headers={"Content-Type": "image/jpeg", HEADER: f"input_size={INPUT_SIZE}"},
        )
        assert response.status_code == 200, response.text
        return (
            response.content,
            float(response.headers["X-Depth-Min"]),
            float(response.headers["X-Depth-Max"]),
        )

    with ThreadPoolExecutor(len(images)) as pool:
        answers = list(pool.map(invoke, images))

    metrics = client.get("/metrics").json()
    assert metrics["images"] == len(images)
    assert metrics["max_batch_size"] > 1, metrics
    for answer, single in zip(answers, expected, strict=True):
        ours = as_depth(*answer)
        alone = as_depth(single.png, single.depth_min, single.depth_max)
        np.testing.assert_allclose(ours, alone, atol=1e-3 * np.ptp(alone))
    # The answers differ from one another, so matching each to its own single prediction means something.
    first = as_depth(*answers[0])
    for other in answers[1:]:
        assert np.abs(as_depth(*other) - first).mean() > 1e-2 * np.ptp(first)


def test_images_of_different_working_sizes_run_in_separate_batches(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(batch_window_ms=500, max_batch_size=4)
    sizes = [(400, 300), (300, 400), (400, 300), (300, 400)]
    start = threading.Barrier(len(sizes))

    def invoke(size: tuple[int, int]) -> tuple[int, int]:
        start.wait()
        response = client.post(
            "/invocations",
            content=jpeg_bytes(*size),
            headers={"Content-Type": "image/jpeg", HEADER: f"input_size={INPUT_SIZE}"},
        )
        assert response.status_code == 200, response.text
        return int(response.headers["X-Input-Size"]), len(response.content)

    with ThreadPoolExecutor(len(sizes)) as pool:
        list(pool.map(invoke, sizes))

    assert client.get("/metrics").json()["batch_size_histogram"] == {"2": 2}


def test_engine_predict_is_thread_safe(engine: DepthEngine) -> None:
    images = distinct_images()
    sequential = [engine.predict(image, input_size=INPUT_SIZE) for image in images]

    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda image: engine.predict(image, input_size=INPUT_SIZE), images))

    for ours, alone in zip(parallel, sequential, strict=True):
        assert ours == alone


class TestDynamicBatcher:
    @staticmethod
    async def run(batcher: DynamicBatcher[str, str], items: Sequence[str]) -> list[str | BaseException]:
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(item) for item in items), return_exceptions=True)
        finally:
            await batcher.stop()

    def test_groups_by_key_caps_batch_size_and_keeps_each_answer_with_its_caller(self) -> None:
        seen: list[list[str]] = []

        def run_batch(items: Sequence[str]) -> list[str]:
            seen.append(list(items))
            return [item.upper() for item in items]

        batcher = DynamicBatcher(run_batch, key=len, window_s=0.2, max_batch_size=3)
        items = ["a", "bb", "c", "dd", "e", "f"]

        answers = asyncio.run(self.run(batcher, items))

        assert answers == [item.upper() for item in items]
        assert all(len({len(item) for item in batch}) == 1 for batch in seen)
        assert max(len(batch) for batch in seen) <= 3
        assert batcher.stats.images == len(items)
        assert batcher.stats.max_batch_size > 1

    def test_a_failing_batch_fails_its_callers_and_the_worker_carries_on(self) -> None:
        def run_batch(items: Sequence[str]) -> list[str]:
            if "bad" in items:
                raise RuntimeError("device fell over")
            return list(items)

        async def scenario() -> tuple[list[str | BaseException], str]:
            batcher: DynamicBatcher[str, str] = DynamicBatcher(
                run_batch, key=lambda _: 0, window_s=0.05, max_batch_size=8
            )
            batcher.start()
            try:
                failed = list(
                    await asyncio.gather(batcher.submit("bad"), batcher.submit("x"), return_exceptions=True)
                )
                return failed, await batcher.submit("good")
            finally:
                await batcher.stop()

        failed, later = asyncio.run(scenario())

        assert all(isinstance(answer, RuntimeError) for answer in failed)
        assert later == "good"

    def test_submit_before_start_is_an_error(self) -> None:
        batcher: DynamicBatcher[str, str] = DynamicBatcher(list, key=len, window_s=0, max_batch_size=1)
        with pytest.raises(RuntimeError, match="start"):
            asyncio.run(batcher.submit("x"))


def test_settings_come_from_the_environment() -> None:
    assert ServerSettings.from_env({}) == ServerSettings(5.0, None)
    assert ServerSettings.from_env({"BATCH_WINDOW_MS": "2.5", "MAX_BATCH_SIZE": "16"}) == ServerSettings(
        2.5, 16
    )


def test_batches_default_to_eight_on_a_gpu_and_one_on_a_cpu(engine: DepthEngine) -> None:
    class OnGpu:
        device = torch.device("cuda")

    assert default_max_batch_size(engine) == 1
    assert default_max_batch_size(OnGpu()) == 8  # type: ignore[arg-type]
