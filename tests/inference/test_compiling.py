"""Compiling the model in the background (compiling.py): the DEPTH_COMPILE choice, a working size that
switches to compiled code once its compile is done and stays within parity, a compile or a compiled call
that fails and leaves its size eager without failing a request, and `off`, which never compiles.

The compiles here use a counting backend around aot_eager (dynamo and AOT autograd as inductor gets
them, without its C++ code generation, which takes 10 to 50 s for even the tiny model): the switching
logic is the production one; bench/inference.py checks inductor's parity on the real architecture."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from depth_inference import compiling
from depth_inference.compiling import CompilePlan, choose_compile, compile_mode
from depth_inference.engine import DepthEngine
from tests.inference.helpers import decode_depth
from tests.inference.test_parity import assert_close, reference_depth
from tests.support.images import jpeg_bytes

CPU = torch.device("cpu")
SMALL = 24_800_000  # Depth-Anything-V2-Small's parameters
WAIT_S = 120


class CountingBackend:
    """A torch.compile backend that counts its compiles and the runs of what it compiled, around
    ``inner`` (aot_eager; "eager", quicker, where the numerics are not the point); ``fail_compile``
    raises as a missing compiler would, ``fail_runs_after`` makes the compiled code raise after that
    many runs, ``gate`` holds the compile until it is set."""

    __name__ = "counting"

    def __init__(
        self,
        inner: str = "aot_eager",
        *,
        fail_compile: bool = False,
        fail_runs_after: int | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.inner = inner
        self.compiles = 0
        self.runs = 0
        self.fail_compile = fail_compile
        self.fail_runs_after = fail_runs_after
        self.gate = gate

    def __call__(self, graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.compiles += 1
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        if self.fail_compile:
            raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found")
        compiled = torch._dynamo.lookup_backend(self.inner)(graph, example_inputs)

        def run(*args: Any) -> Any:
            self.runs += 1
            if self.fail_runs_after is not None and self.runs > self.fail_runs_after:
                raise RuntimeError("the compiled kernel failed")
            return compiled(*args)

        return run


def load(
    model_dir: Path, backend: CountingBackend, mode: str = "on", *, warm_up: bool = False
) -> DepthEngine:
    return DepthEngine.load(
        str(model_dir), device="cpu", compile_mode=mode, compile_backend=backend, warm_up=warm_up
    )


def depth_of(engine: DepthEngine, jpeg: bytes, input_size: int) -> np.ndarray:
    output = engine.predict(jpeg, input_size=input_size)
    return decode_depth(output.png, output.depth_min, output.depth_max)


# ---------------------------------------------------------------- the choice


def test_auto_compiles_a_small_sized_model_computing_in_bf16_on_a_cpu_with_a_compiler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compiling, "cpp_compiler", lambda: "/usr/bin/g++")

    plan = choose_compile(CPU, torch.bfloat16, SMALL, environ={})

    assert plan.enabled
    assert plan.backend == "inductor"
    assert plan.reason.startswith("DEPTH_COMPILE unset, auto: on")
    assert "/usr/bin/g++" in plan.reason


@pytest.mark.parametrize(
    ("device", "dtype", "parameters", "compiler", "why"),
    [
        (CPU, torch.bfloat16, SMALL, None, "no C++ compiler"),
        (CPU, torch.float32, SMALL, "/usr/bin/g++", "only 1.05x"),  # the Lambda image's float32
        (CPU, torch.bfloat16, 200_000, "/usr/bin/g++", "too quick to repay"),  # the tests' tiny model
        (torch.device("cuda"), torch.float16, SMALL, "/usr/bin/g++", "not measured yet"),
    ],
)
def test_auto_leaves_it_off_where_it_does_not_pay_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
    device: torch.device,
    dtype: torch.dtype,
    parameters: int,
    compiler: str | None,
    why: str,
) -> None:
    monkeypatch.setattr(compiling, "cpp_compiler", lambda: compiler)

    plan = choose_compile(device, dtype, parameters, environ={"DEPTH_COMPILE": "auto"})

    assert not plan.enabled
    assert plan.reason.startswith("DEPTH_COMPILE=auto: off")
    assert why in plan.reason


def test_on_and_off_override_auto_and_an_argument_beats_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compiling, "cpp_compiler", lambda: None)

    forced = choose_compile(CPU, torch.float32, 1, environ={"DEPTH_COMPILE": " ON "})
    assert (forced.enabled, forced.reason) == (True, "DEPTH_COMPILE=on")
    refused = choose_compile(CPU, torch.bfloat16, SMALL, "off", environ={"DEPTH_COMPILE": "on"})
    assert (refused.enabled, refused.reason) == (False, "asked for off")


def test_a_bad_depth_compile_fails_the_load_before_the_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPTH_COMPILE", "yes")

    with pytest.raises(ValueError, match=r"DEPTH_COMPILE must be one of auto, on, off, not 'yes'"):
        DepthEngine.load("/nonexistent/model", device="cpu")
    with pytest.raises(ValueError, match="DEPTH_COMPILE"):
        compile_mode(environ={"DEPTH_COMPILE": "max-autotune"})


def test_the_choice_is_logged_at_start_beside_the_precision(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DEPTH_COMPILE", raising=False)

    with caplog.at_level(logging.INFO, logger="depth_inference.engine"):
        engine = DepthEngine.load(str(tiny_model_dir), device="cpu", warm_up=False)

    assert "depth engine on cpu in " in caplog.text
    assert "depth engine torch.compile off (inductor): DEPTH_COMPILE unset, auto: off" in caplog.text
    assert engine.compile_status() == {"state": "off", "reason": engine.compilation.reason}


# ---------------------------------------------------------------- the background compile


def test_a_size_switches_to_compiled_code_once_compiled_and_stays_within_parity(tiny_model_dir: Path) -> None:
    backend = CountingBackend()
    engine = load(tiny_model_dir, backend)
    jpeg = jpeg_bytes(400, 300, seed=7)
    eager = depth_of(engine, jpeg, 140)  # the first request at 182x140: eager, not queued yet
    assert engine.compile_status()["sizes"] == {}

    assert_close(depth_of(engine, jpeg, 140), eager)  # the second queues it, and is answered eagerly
    assert engine.wait_for_compiles(WAIT_S)

    assert backend.compiles == 1
    (state,) = engine.compile_status()["sizes"].values()
    assert state["state"] == "compiled"
    assert state["seconds"] >= 0
    assert engine.compile_seconds((182, 140)) == pytest.approx(state["seconds"], abs=0.1)
    runs = backend.runs  # the compile's own run of its example
    compiled = depth_of(engine, jpeg, 140)
    assert backend.runs == runs + 1  # this request ran the compiled code
    assert_close(compiled, eager)
    assert_close(compiled, reference_depth(tiny_model_dir, jpeg, 140))  # the float32 transformers reference
    # A size not compiled yet runs eagerly: nothing compiles on a request's thread.
    depth_of(engine, jpeg_bytes(300, 400), 140)
    assert (backend.compiles, backend.runs) == (1, runs + 1)


def test_the_warm_up_size_is_queued_at_start_and_the_engine_is_ready_without_waiting(
    tiny_model_dir: Path,
) -> None:
    backend = CountingBackend("eager")
    engine = load(tiny_model_dir, backend, warm_up=True)

    # Loaded and warmed up eagerly; the warm-up's size (518 on a 4:3 landscape photo) is in the queue.
    (state,) = engine.compile_status()["sizes"].values()
    assert state["state"] in ("queued", "compiling", "compiled")
    assert engine.wait_for_compiles(WAIT_S)
    assert engine.compile_status()["sizes"]["686x518"]["state"] == "compiled"
    runs = backend.runs
    engine.predict(jpeg_bytes(640, 480), input_size=518)
    assert backend.runs == runs + 1


def test_requests_never_wait_for_a_compile(tiny_model_dir: Path) -> None:
    gate = threading.Event()
    backend = CountingBackend("eager", gate=gate)
    engine = load(tiny_model_dir, backend)
    jpeg = jpeg_bytes(400, 300, seed=4)
    try:
        engine.predict(jpeg, input_size=140)
        engine.predict(jpeg, input_size=140)  # queues 182x140, whose compile then hangs on the gate
        deadline = time.monotonic() + WAIT_S
        while engine.compile_status()["sizes"]["182x140"]["state"] != "compiling":
            assert time.monotonic() < deadline
            time.sleep(0.01)

        for _ in range(3):  # answered eagerly while the compile is held
            engine.predict(jpeg, input_size=140)

        assert not engine.wait_for_compiles(0)
        assert engine.compile_status()["sizes"]["182x140"]["state"] == "compiling"
    finally:
        gate.set()
    assert engine.wait_for_compiles(WAIT_S)
    assert engine.compile_status()["sizes"]["182x140"]["state"] == "compiled"


def test_a_failing_compile_leaves_its_size_eager_for_good_without_failing_a_request(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = CountingBackend("eager", fail_compile=True)
    engine = load(tiny_model_dir, backend)
    jpeg = jpeg_bytes(400, 300, seed=2)
    eager = depth_of(engine, jpeg, 140)

    with caplog.at_level(logging.WARNING, logger="depth_inference.compiling"):
        depth_of(engine, jpeg, 140)
        assert engine.wait_for_compiles(WAIT_S)

    (state,) = engine.compile_status()["sizes"].values()
    assert state["state"] == "failed"
    assert "no working C++ compiler" in state["error"]
    assert "failed" in caplog.text
    assert "runs eagerly from now on" in caplog.text
    for _ in range(2):  # answered eagerly, and never queued again
        assert_close(depth_of(engine, jpeg, 140), eager)
    assert engine.wait_for_compiles(0)
    assert backend.compiles == 1


def test_a_compiled_call_that_fails_is_answered_eagerly_and_leaves_its_size_eager(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = CountingBackend("eager", fail_runs_after=1)  # the compile's own run passes, the next one fails
    engine = load(tiny_model_dir, backend)
    jpeg = jpeg_bytes(400, 300, seed=3)
    eager = depth_of(engine, jpeg, 140)
    depth_of(engine, jpeg, 140)
    assert engine.wait_for_compiles(WAIT_S)
    assert engine.compile_status()["sizes"]["182x140"]["state"] == "compiled"

    with caplog.at_level(logging.ERROR, logger="depth_inference.compiling"):
        answered = depth_of(engine, jpeg, 140)

    assert_close(answered, eager)
    assert engine.compile_status()["sizes"]["182x140"]["state"] == "failed"
    assert "the compiled model failed at 182x140" in caplog.text
    runs = backend.runs
    depth_of(engine, jpeg, 140)
    assert backend.runs == runs  # eager from now on


def test_off_never_compiles(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_compile(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("torch.compile must not be called")

    monkeypatch.setattr(torch, "compile", no_compile)
    backend = CountingBackend()
    engine = load(tiny_model_dir, backend, mode="off", warm_up=True)
    jpeg = jpeg_bytes(400, 300)

    for _ in range(3):
        engine.predict(jpeg, input_size=140)

    assert engine.wait_for_compiles(0)
    assert backend.compiles == 0
    assert engine.compile_status() == {"state": "off", "reason": "asked for off"}


def test_a_replaced_model_stops_the_engines_own_compiling(tiny_model_dir: Path) -> None:
    backend = CountingBackend()
    engine = load(tiny_model_dir, backend)
    jpeg = jpeg_bytes(400, 300)

    engine.model = engine.model  # what a benchmark does to compile or count the model itself
    for _ in range(3):
        engine.predict(jpeg, input_size=140)

    assert engine.compile_status()["state"] == "off"
    assert "replaced" in engine.compile_status()["reason"]
    assert backend.compiles == 0


def test_at_most_max_sizes_are_compiled(tiny_model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    backend = CountingBackend("eager")
    engine = load(tiny_model_dir, backend)
    compiler = engine._compiler
    assert compiler is not None
    compiler._plan = CompilePlan(True, "a test", backend, after=1, max_sizes=1)

    with caplog.at_level(logging.INFO, logger="depth_inference.compiling"):
        engine.predict(jpeg_bytes(400, 300), input_size=70)
        engine.predict(jpeg_bytes(300, 400), input_size=70)
    assert engine.wait_for_compiles(WAIT_S)

    sizes = engine.compile_status()["sizes"]
    assert {label: size["state"] for label, size in sizes.items()} == {"98x70": "compiled"}
    assert "70x98 stays eager: not compiled: 1 sizes are already" in caplog.text
