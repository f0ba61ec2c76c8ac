"""Each invocation the runner makes runs in a context of its own, as each Lambda invocation has its
own process: log keys one function appends never show on another's lines, nor on the runner's."""

from __future__ import annotations

from typing import Any

import pytest

from immichvr_depth.platform.observability import logger
from immichvr_local import functions
from immichvr_local.functions import FunctionPool
from immichvr_local.template import FunctionSpec


def appending_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(pooled_item=event["item"], function_name=context.function_name)
    return dict(logger.get_current_keys())


def test_keys_appended_in_an_invocation_do_not_outlive_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functions, "_load_instance", lambda spec: appending_handler)
    spec = FunctionSpec(
        logical_id="DepthProcessorFunction",
        code_uri="functions/depth_processor",
        handler="app.lambda_handler",
        environment={},
        events={},
    )
    pool = FunctionPool(spec, size=1)
    before = dict(logger.get_current_keys())

    seen_inside = pool.invoke({"item": "item-a"})
    second = pool.invoke({"item": "item-b"})

    assert (seen_inside["pooled_item"], seen_inside["function_name"]) == ("item-a", "DepthProcessorFunction")
    assert second["pooled_item"] == "item-b"
    assert dict(logger.get_current_keys()) == before, "the caller's keys are as they were"
