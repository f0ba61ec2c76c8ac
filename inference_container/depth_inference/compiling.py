"""Whether the engine compiles its model with ``torch.compile``, and the background compiles themselves.

Chosen like the precision (precision.py): ``DEPTH_COMPILE`` = ``auto`` (the default), ``on`` or ``off``.
``auto`` compiles where it was measured to pay: on a CPU computing in bfloat16, with a C++ compiler for
inductor, a model of Depth-Anything-V2-Small's size or larger. There the compiled forward measured
1.25x the eager one at 518, and bench/inference.py the serving path from 1.87x to 2.24x the transformers
pipeline (2.47x to 2.72x at 1036) on 2 Xeon cores, for 9 to 25 s of compiling per working size with a
warm cache (43 to 78 s cold or with the cores shared). It stays off elsewhere:
in float32 the compiled forward measured 1.05x, so a 29 s compile repays itself only after ~700 images
of its size (the Lambda image runs float32); on CUDA it is not measured yet (bench/gpu.sh times compiled
rows), and dynamic batches of 1 to 8 would multiply the compiles; a model far smaller than Small (the
tests') runs each image in milliseconds, which a compile of seconds never repays.

A compiled model is specialised to one input shape, and a server sees one per aspect ratio and input
size. TorchServe compiles on a worker's first requests and advises a warm-up before the worker counts
as ready, Triton warms a model up before it is ready, Immich's machine-learning server preloads models
at start and compiles nothing; a warm-up compiling every size a library brings, a minute or more each
here, would hold the health check for many minutes. So neither start nor any request waits for a
compile: ``/ping`` turns healthy after one eager warm-up pass, every request runs eagerly until its
working size is compiled, and compiling happens on one thread for the whole process, one working size
at a time, at a low CPU priority, so that serving keeps the cores. The warm-up's size (518 on a 4:3
landscape photo, the most common request) is compiled from the start; any other size once it has been
asked for ``COMPILE_AFTER`` times (a one-off panorama is not worth 10-25 s of CPU); at most
``MAX_COMPILED_SIZES`` sizes. Once a size's compile is done its requests run the compiled code. The
compiled code is reached through dynamo's run-only mode, which never compiles: a request whose guards
do not match (a size not compiled yet) runs eagerly instead, so a request never compiles by accident.
A compile that fails (no C++ compiler, an inductor error) is logged and leaves that size eager for
good; a compiled call that fails is logged, answered eagerly, and leaves its size eager too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

logger = logging.getLogger(__name__)

ENV_VAR = "DEPTH_COMPILE"
AUTO = "auto"
MODES = (AUTO, "on", "off")
DEFAULT_BACKEND = "inductor"
# Depth-Anything-V2-Small has 24.8M parameters; the tests' tiny models about 0.2M.
MIN_AUTO_PARAMETERS = 5_000_000
# Requests at a working size before it is queued for compiling (the warm-up's size is queued at once).
COMPILE_AFTER = 2
MAX_COMPILED_SIZES = 16
# The compile thread's nice value (Linux): it gets the CPU that serving leaves.
COMPILE_NICE = 10

# A torch.compile backend: a registered name ("inductor", "aot_eager", "eager") or a callable.
Backend = str | Callable[..., Any]
Shape = tuple[int, ...]
SizeState = Literal["queued", "compiling", "compiled", "failed"]


@dataclass(frozen=True)
class CompilePlan:
    """Whether the engine compiles its model, with which backend, and why."""

    enabled: bool
    reason: str
    backend: Backend = DEFAULT_BACKEND
    after: int = COMPILE_AFTER
    max_sizes: int = MAX_COMPILED_SIZES

    @property
    def backend_name(self) -> str:
        return self.backend if isinstance(self.backend, str) else getattr(self.backend, "__name__", "custom")

    @property
    def state(self) -> str:
        return "on" if self.enabled else "off"


def compile_mode(requested: str | None = None, environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The mode asked for (``requested``, else ``DEPTH_COMPILE``, else auto) and who asked, validated
    before the model loads. Raises ValueError naming the choices."""
    name = (requested or environ.get(ENV_VAR) or AUTO).strip().lower()
    if name not in MODES:
        raise ValueError(f"{ENV_VAR} must be one of {', '.join(MODES)}, not {name!r}")
    if requested:
        return name, f"asked for {name}"
    return name, f"{ENV_VAR}={name}" if environ.get(ENV_VAR, "").strip() else f"{ENV_VAR} unset, {AUTO}"


def choose_compile(
    device: torch.device,
    dtype: torch.dtype,
    parameters: int,
    requested: str | None = None,
    environ: Mapping[str, str] = os.environ,
    backend: Backend = DEFAULT_BACKEND,
) -> CompilePlan:
    """The plan for a model of ``parameters`` computing in ``dtype`` on ``device`` (see the module's
    docstring for what ``auto`` chooses and why)."""
    mode, source = compile_mode(requested, environ)
    if mode == "off":
        return CompilePlan(False, source, backend)
    if mode == "on":
        return CompilePlan(True, source, backend)
    if device.type != "cpu":
        return CompilePlan(
            False,
            f"{source}: off on {device.type}, where it is not measured yet (bench/gpu.sh times it); "
            f"{ENV_VAR}=on to try",
            backend,
        )
    if dtype != torch.bfloat16:
        return CompilePlan(
            False,
            f"{source}: off in {str(dtype).removeprefix('torch.')}, where the compiled forward measured "
            f"only 1.05x the eager one; {ENV_VAR}=on to compile anyway",
            backend,
        )
    if parameters < MIN_AUTO_PARAMETERS:
        return CompilePlan(
            False,
            f"{source}: off for a model of {parameters / 1e6:.1f}M parameters, too quick to repay a compile",
            backend,
        )
    if backend == DEFAULT_BACKEND:
        compiler = cpp_compiler()
        if compiler is None:
            return CompilePlan(
                False, f"{source}: off, no C++ compiler for inductor (g++, or CXX) on this host", backend
            )
        where = f", C++ compiler {compiler}"
    else:
        where = ""
    return CompilePlan(
        True,
        f"{source}: on, a CPU computing in bfloat16{where}; each working size is compiled in the "
        "background and serves eagerly until then",
        backend,
    )


def cpp_compiler() -> str | None:
    """The C++ compiler inductor would use on this host (``CXX``, else g++; clang++ on macOS), or None."""
    name = os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")
    return shutil.which(name)


@dataclass
class _Size:
    requests: int = 0
    state: SizeState | None = None  # None: seen, not queued
    example: torch.Tensor | None = None  # the input the compile traces, until it has run
    seconds: float | None = None
    error: str | None = None


class BackgroundCompiler:
    """Compiles one engine's model for each working size in the background and serves each compiled
    size from its compiled code. ``context`` enters what the engine runs the model under (inference
    mode, autocast): the compile traces under the same state, so its guards match the requests'."""

    def __init__(
        self,
        model: torch.nn.Module,
        plan: CompilePlan,
        context: Callable[[], contextlib.AbstractContextManager[Any]],
    ) -> None:
        self._model = model
        self._plan = plan
        self._context = context
        # One compiler thread, no worker pool: a background job, and Lambda has no /dev/shm for a pool.
        options: dict[str, str | int | bool | Callable[..., Any]] | None = (
            {"compile_threads": 1} if plan.backend == DEFAULT_BACKEND else None
        )
        # Static shapes: one specialised graph per working size, as the benchmark measured them.
        self._compiling = torch.compile(model, backend=plan.backend, dynamic=False, options=options)
        # The same cache of compiled code, in run-only mode: guards that match run the compiled code,
        # any other input runs eagerly, and nothing ever compiles on a request's thread.
        self._serving: Callable[..., Any] = torch._dynamo.run(model)
        self._sizes: dict[Shape, _Size] = {}
        self._changed = threading.Condition()
        _raise_recompile_limit(plan.max_sizes)

    @property
    def plan(self) -> CompilePlan:
        return self._plan

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The model on ``pixel_values`` (already under ``context``): compiled code where its size is
        compiled, else eager, counting the request towards its size's compile."""
        shape = tuple(pixel_values.shape)
        with self._changed:
            size = self._sizes.setdefault(shape, _Size())
            size.requests += 1
            compiled = size.state == "compiled"
            if size.state is None and size.requests >= self._plan.after:
                self._queue(shape, size, pixel_values)
        if compiled:
            try:
                predicted: torch.Tensor = self._serving(pixel_values=pixel_values).predicted_depth
            except Exception as exc:  # the request is answered eagerly; its size stays eager
                logger.exception(
                    "the compiled model failed at %s; that size runs eagerly from now on", _label(shape)
                )
                self._fail(shape, exc)
            else:
                return predicted
        eager: torch.Tensor = self._model(pixel_values=pixel_values).predicted_depth
        return eager

    def compile_soon(self, pixel_values: torch.Tensor) -> None:
        """Queues ``pixel_values``' size now, whatever its count (the warm-up's size, at start)."""
        shape = tuple(pixel_values.shape)
        with self._changed:
            size = self._sizes.setdefault(shape, _Size())
            if size.state is None:
                self._queue(shape, size, pixel_values)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Waits until no size is queued or compiling; False if ``timeout_s`` passed first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not any(size.state in ("queued", "compiling") for size in self._sizes.values()),
                timeout_s,
            )

    def status(self) -> dict[str, dict[str, Any]]:
        """Each queued, compiling, compiled or failed size (width x height[, batch]) and its state."""
        with self._changed:
            answer: dict[str, dict[str, Any]] = {}
            for shape, size in self._sizes.items():
                if size.state is None:
                    continue
                entry: dict[str, Any] = {"state": size.state}
                if size.seconds is not None:
                    entry["seconds"] = round(size.seconds, 1)
                if size.error is not None:
                    entry["error"] = size.error
                answer[_label(shape)] = entry
            return answer

    def seconds(self, shape: Shape) -> float | None:
        """How long ``shape``'s compile took, once it ran."""
        with self._changed:
            size = self._sizes.get(shape)
            return None if size is None else size.seconds

    def _queue(self, shape: Shape, size: _Size, pixel_values: torch.Tensor) -> None:
        # Called holding self._changed.
        queued = sum(
            1 for other in self._sizes.values() if other.state in ("queued", "compiling", "compiled")
        )
        if queued >= self._plan.max_sizes:
            if size.error is None:
                size.error = f"not compiled: {self._plan.max_sizes} sizes are already"
                logger.info("%s stays eager: %s", _label(shape), size.error)
            return
        size.state = "queued"
        size.example = pixel_values.detach().clone()  # the same strides, device and dtype as requests'
        self._changed.notify_all()
        logger.info("queued %s for compiling in the background (%s)", _label(shape), self._plan.backend_name)
        _compile_thread().submit(lambda: self._compile(shape))

    def _compile(self, shape: Shape) -> None:
        with self._changed:
            size = self._sizes[shape]
            example, size.example = size.example, None
            size.state = "compiling"
            self._changed.notify_all()
        assert example is not None
        started = time.perf_counter()
        try:
            with self._context():
                self._compiling(pixel_values=example)
        except Exception as exc:  # a compiler missing or failing: that size stays eager, for good
            logger.warning(
                "compiling the model for %s failed after %.1f s; that size runs eagerly from now on: %s",
                _label(shape),
                time.perf_counter() - started,
                _describe(exc),
            )
            self._fail(shape, exc)
            return
        seconds = time.perf_counter() - started
        with self._changed:
            size.state, size.seconds = "compiled", seconds
            self._changed.notify_all()
        logger.info(
            "compiled the model for %s in %.1f s; that size runs compiled from now on", _label(shape), seconds
        )

    def _fail(self, shape: Shape, exc: BaseException) -> None:
        with self._changed:
            size = self._sizes[shape]
            size.state, size.error, size.example = "failed", _describe(exc), None
            self._changed.notify_all()


def _label(shape: Shape) -> str:
    batch, _, height, width = shape
    return f"{width}x{height}" + (f" x{batch}" if batch != 1 else "")


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def _raise_recompile_limit(sizes: int) -> None:
    # Every working size is one entry in the cache of the model's forward (all engines of a model class
    # share it); past dynamo's limit (8) a new size would silently stay eager.
    config: Any = torch._dynamo.config
    wanted = max(64, 4 * sizes)
    config.recompile_limit = max(config.recompile_limit, wanted)
    config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, 4 * wanted)


@dataclass
class _CompileThread:
    """The process's one compile thread: one compile at a time for every engine, in order, at a low
    priority. A daemon, so that a process never waits at exit for a compile nobody needs any more."""

    jobs: queue.SimpleQueue[Callable[[], None]] = field(default_factory=queue.SimpleQueue)
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, job: Callable[[], None]) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="depth-compile", daemon=True)
                self.thread.start()
        self.jobs.put(job)

    def _run(self) -> None:
        _lower_priority()
        while True:
            job = self.jobs.get()
            try:
                job()
            except Exception:  # pragma: no cover - jobs report their own failures
                logger.exception("a background compile job failed")


def _lower_priority() -> None:
    """This thread (and the compiler processes it starts) at nice COMPILE_NICE, on Linux, where a
    thread's id names it to setpriority; elsewhere that id would name a process, so nothing changes."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COMPILE_NICE)


_THREAD = _CompileThread()


def _compile_thread() -> _CompileThread:
    return _THREAD
