"""The Immich API key never leaves the import function: not in its answers, not in its logs, not in
what it stores, whether the import succeeds or fails (wrong key, missing permission, timeouts, a
proxy that echoes the key back)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from functions.immich_import import app as import_api
from immichvr_depth.platform import aws
from immichvr_depth.platform.observability import logger as powertools_logger
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from tests.fakes.fake_immich import FakeImmich
from tests.support.events import api_event, lambda_context
from tests.support.immich import immich_for_functions

IMMICH_KEY = "immich-SECRET-4d1f9a0c"
WRONG_KEY = "wrong-SECRET-77ab31e2"


@dataclass
class Captured:
    """Everything the import wrote where a person or a log pipeline could read it."""

    powertools: io.StringIO
    caplog: pytest.LogCaptureFixture

    def text(self) -> str:
        return self.powertools.getvalue() + "\n".join(
            record.getMessage() + str(record.args) for record in self.caplog.records
        )


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    # Powertools' handler holds the stdout it saw at import, which pytest's capsys cannot swap;
    # pointing that handler at a buffer captures exactly the JSON lines Lambda would ship.
    handler = powertools_logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous_stream = handler.setStream(buffer)
    previous_level = powertools_logger.log_level
    powertools_logger.setLevel("DEBUG")  # the most a misconfigured deployment could log
    caplog.set_level(logging.DEBUG)  # every stdlib logger too: urllib3, requests, our client
    try:
        yield Captured(buffer, caplog)
    finally:
        handler.setStream(previous_stream)
        powertools_logger.setLevel(previous_level)


@pytest.fixture
def immich(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeImmich]:
    with immich_for_functions(
        monkeypatch,
        version="2.7.5",
        api_key=IMMICH_KEY,
        IMMICH_READ_TIMEOUT_S="1",
        IMMICH_CONNECT_TIMEOUT_S="1",
    ) as fake:
        fake.stall_s = 3
        yield fake


def use_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("IMMICH_API_KEY", key)
    get_settings.cache_clear()


def stored_text() -> str:
    """Every item and depth record and every S3 object's key and metadata, as text."""
    rows = [item.to_simple_dict() for item in MediaItem.scan()]
    rows += [record.to_simple_dict() for record in DepthMapRecord.scan()]
    s3 = aws.s3()
    bucket = get_settings().media_bucket
    for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        rows.append({"key": entry["Key"], **s3.head_object(Bucket=bucket, Key=entry["Key"])["Metadata"]})
    return json.dumps(rows, default=str)


# Each scenario sets up Immich (and our key) and names the status the import must answer.
Scenario = Callable[[FakeImmich, pytest.MonkeyPatch], str]


def succeeds(fake: FakeImmich, _: pytest.MonkeyPatch) -> str:
    return fake.add_image(width=640, height=480)


def wrong_key(fake: FakeImmich, monkeypatch: pytest.MonkeyPatch) -> str:
    use_key(monkeypatch, WRONG_KEY)
    return fake.add_image()


def missing_permission(fake: FakeImmich, _: pytest.MonkeyPatch) -> str:
    return fake.add_image(denied_permissions={"asset.download"})


def slow_to_answer(fake: FakeImmich, _: pytest.MonkeyPatch) -> str:
    return fake.add_image(delay_s=2)


def stalls_mid_download(fake: FakeImmich, _: pytest.MonkeyPatch) -> str:
    return fake.add_image(stall_after_bytes=1000)


def keeps_failing(fake: FakeImmich, _: pytest.MonkeyPatch) -> str:
    asset_id = fake.add_image()
    fake.fail_next(f"/api/assets/{asset_id}", times=10, status=503)
    return asset_id


def echoes_the_key(fake: FakeImmich, _: pytest.MonkeyPatch) -> str:
    # A reverse proxy in front of Immich that repeats the request's headers in its error page.
    asset_id = fake.add_image()
    fake.fail_next(f"/api/assets/{asset_id}", status=401, message=f"rejected x-api-key: {IMMICH_KEY}")
    return asset_id


def unreachable(_: FakeImmich, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("IMMICH_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    get_settings.cache_clear()
    return "0b5c6f0e-1d2a-4c3b-8e4f-5a6b7c8d9e01"


def key_with_a_newline(fake: FakeImmich, monkeypatch: pytest.MonkeyPatch) -> str:
    # A key pasted with its line end into the parameter: refused before any request carries it.
    use_key(monkeypatch, IMMICH_KEY + "\n")
    return fake.add_image()


SCENARIOS: dict[str, tuple[Scenario, int]] = {
    "success": (succeeds, 202),
    "wrong key": (wrong_key, 502),
    "403 missing permission": (missing_permission, 502),
    "timeout before the headers": (slow_to_answer, 504),
    "timeout mid-download": (stalls_mid_download, 504),
    "5xx through every retry": (keeps_failing, 502),
    "proxy echoing the key": (echoes_the_key, 502),
    "Immich unreachable": (unreachable, 504),
    "key with a newline": (key_with_a_newline, 500),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_immich_key_is_in_no_answer_log_or_record(
    name: str, immich: FakeImmich, captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, expected_status = SCENARIOS[name]
    asset_id = scenario(immich, monkeypatch)

    response: dict[str, Any] = import_api.lambda_handler(
        api_event("POST", f"/api/immich/import/{asset_id}"), lambda_context("ImmichImportFunction")
    )

    assert response["statusCode"] == expected_status, response["body"]
    assert json.loads(response["body"])["message"]
    logs = captured.text()
    assert logs.strip(), "nothing was logged: the check below would prove nothing"
    exposed = json.dumps(response) + logs + stored_text()
    for secret in (IMMICH_KEY, WRONG_KEY):
        assert secret not in exposed, f"{name}: the key leaked"
        assert "SECRET" not in exposed, f"{name}: part of a key leaked"
