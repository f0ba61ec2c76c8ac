"""Log lines of invocations running side by side in one process (as the local runner runs them) each
carry their own function's name and their own item's id."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

from immichvr_depth.platform.observability import logger
from tests.support.events import lambda_context


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_keys_appended_by_concurrent_invocations_stay_on_their_own_lines(
    written_log: io.StringIO,
) -> None:
    both_appended = threading.Barrier(2)

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, str], context: object) -> None:
        logger.append_keys(media_item_id=event["item"])
        both_appended.wait(timeout=10)  # each line is written after both invocations set their keys
        logger.info("working on it")

    invocations = [
        threading.Thread(target=handler, args=({"item": item}, lambda_context(function)))
        for item, function in (("item-a", "MediaApiFunction"), ("item-b", "DepthProcessorFunction"))
    ]
    for invocation in invocations:
        invocation.start()
    for invocation in invocations:
        invocation.join(timeout=10)

    seen = {(line["function_name"], line["media_item_id"]) for line in lines(written_log)}
    assert seen == {("MediaApiFunction", "item-a"), ("DepthProcessorFunction", "item-b")}


def test_every_line_still_names_the_service(written_log: io.StringIO) -> None:
    def log_from_a_new_thread() -> None:
        logger.info("no invocation here")

    thread = threading.Thread(target=log_from_a_new_thread)
    thread.start()
    thread.join(timeout=10)

    (line,) = lines(written_log)
    assert line["service"] == "immichvr-depth"
    assert line["message"] == "no invocation here"
