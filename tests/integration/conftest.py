"""What the end-to-end modules share: a fake Immich and the runner as a subprocess pointed at it, one of
each per module. A module names its keys (`API_KEY`, `IMMICH_KEY`) and may add runner environment
(`RUNNER_ENV`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_immich import FakeImmich
from tests.support.runner import Runner, running_runner


@pytest.fixture(scope="module")
def immich(request: pytest.FixtureRequest) -> Iterator[FakeImmich]:
    with FakeImmich(version="3.1.0", api_key=request.module.IMMICH_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def runner(
    request: pytest.FixtureRequest,
    immich: FakeImmich,
    tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Runner]:
    with running_runner(
        api_key=request.module.API_KEY,
        log=tmp_path_factory.mktemp("runner") / "runner.log",
        model_dir=tiny_model_dir,
        immich_url=immich.url,
        immich_api_key=request.module.IMMICH_KEY,
        extra_env=getattr(request.module, "RUNNER_ENV", {}),
    ) as running:
        yield running
