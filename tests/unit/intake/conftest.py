"""A fake Immich, and our client pointed at it, for the modules that speak to Immich directly.

A module sets `IMMICH_KEY` (the key the fake accepts) and may set `FAKE_IMMICH_VERSION`; a test
parametrized `indirect` on `fake` gets that Immich version instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from immichvr_depth.intake.immich import ImmichClient
from tests.fakes.fake_immich import FakeImmich


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeImmich]:
    default = getattr(request.module, "FAKE_IMMICH_VERSION", "2.7.5")
    with FakeImmich(getattr(request, "param", default), request.module.IMMICH_KEY) as server:
        yield server


@pytest.fixture
def exchanges() -> list[requests.Response]:
    """Every response the client saw (with the request behind it), for validation against the spec."""
    return []


@pytest.fixture
def client(
    fake: FakeImmich, exchanges: list[requests.Response], request: pytest.FixtureRequest
) -> Iterator[ImmichClient]:
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: exchanges.append(response))
    with ImmichClient(
        fake.url,
        request.module.IMMICH_KEY,
        connect_timeout=1,
        read_timeout=2,
        backoff_factor=0,
        session=session,
    ) as immich:
        yield immich
