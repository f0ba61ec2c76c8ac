"""Dynamic batching: requests that arrive within a few milliseconds share one forward pass.

One worker task takes the first waiting request, keeps collecting for ``window_s`` (or until
``max_batch_size`` requests are in), groups them by batch key (the model input size: only equal sizes
stack) and runs each group in a single thread, one batch at a time. While a batch runs the next ones
queue up, so under load batches fill by themselves and the window costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class BatchStats:
    """How many batches of each size ran; what GET /metrics reports and tests observe."""

    def __init__(self) -> None:
        self.histogram: Counter[int] = Counter()

    def record(self, size: int) -> None:
        self.histogram[size] += 1

    @property
    def batches(self) -> int:
        return sum(self.histogram.values())

    @property
    def images(self) -> int:
        return sum(size * count for size, count in self.histogram.items())

    @property
    def max_batch_size(self) -> int:
        return max(self.histogram, default=0)

    def snapshot(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "images": self.images,
            "max_batch_size": self.max_batch_size,
            "batch_size_histogram": {str(size): self.histogram[size] for size in sorted(self.histogram)},
        }


class DynamicBatcher(Generic[ItemT, ResultT]):
    def __init__(
        self,
        run_batch: Callable[[Sequence[ItemT]], list[ResultT]],
        key: Callable[[ItemT], Hashable],
        *,
        window_s: float,
        max_batch_size: int,
    ) -> None:
        if max_batch_size < 1 or window_s < 0:
            raise ValueError("max_batch_size must be at least 1 and window_s not negative")
        self._run_batch = run_batch
        self._key = key
        self._window_s = window_s
        self._max_batch_size = max_batch_size
        self._queue: asyncio.Queue[tuple[ItemT, asyncio.Future[ResultT]]] = asyncio.Queue()
        # One thread: the device runs one batch at a time anyway, and a fixed thread keeps its CUDA context.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="depth-batch")
        self._worker: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    def start(self) -> None:
        """Start the worker on the running event loop."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve(), name="depth-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        self._executor.shutdown(wait=True)

    async def submit(self, item: ItemT) -> ResultT:
        if self._worker is None:
            raise RuntimeError("the batcher is not running; call start() first")
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _serve(self) -> None:
        while True:
            pending = await self._collect()
            groups: dict[Hashable, list[tuple[ItemT, asyncio.Future[ResultT]]]] = {}
            for entry in pending:
                groups.setdefault(self._key(entry[0]), []).append(entry)
            for group in groups.values():
                await self._run(group)

    async def _collect(self) -> list[tuple[ItemT, asyncio.Future[ResultT]]]:
        loop = asyncio.get_running_loop()
        pending = [await self._queue.get()]
        deadline = loop.time() + self._window_s
        while len(pending) < self._max_batch_size:
            remaining = deadline - loop.time()
            try:
                if remaining > 0:
                    pending.append(await asyncio.wait_for(self._queue.get(), remaining))
                else:
                    # Past the window, requests that queued up during the last batch still join this one.
                    pending.append(self._queue.get_nowait())
            except (TimeoutError, asyncio.QueueEmpty):
                break
        return pending

    async def _run(self, group: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        # Callers that went away (client disconnects cancel their future) need no forward pass.
        live = [(item, future) for item, future in group if not future.done()]
        if not live:
            return
        self.stats.record(len(live))
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._run_batch, [item for item, _ in live])
        except Exception as exc:  # each caller gets the failure; the worker must live on
            logger.exception("a batch of %d failed", len(live))
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)
