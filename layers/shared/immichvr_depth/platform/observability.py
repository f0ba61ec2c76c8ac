"""The Powertools logger and metrics every function shares, so all lines carry the same keys.

No Powertools Tracer: the X-Ray SDK it loads costs a quarter of a second of every cold start, and
the template's `Tracing: Active` already records each invocation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "immichvr-depth"


class PerInvocationKeysFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with every key appended during an invocation (the Lambda context, the
    correlation id, the item being worked on) held by the thread that runs it. Lambda runs one
    invocation at a time per process, so nothing changes there; the local runner runs many
    functions' invocations side by side in one process, where shared keys would put one function's
    name and one item's id on another's lines."""

    def append_keys(self, **additional_keys: Any) -> None:
        self.thread_safe_append_keys(**additional_keys)

    def remove_keys(self, keys: Iterable[str]) -> None:
        self.thread_safe_remove_keys(keys)

    def get_current_keys(self) -> dict[str, Any]:
        return {**self.log_format, **self.thread_safe_get_current_keys()}

    def clear_state(self) -> None:
        super().clear_state()
        self.thread_safe_clear_keys()


logger = Logger(service=SERVICE, logger_formatter=PerInvocationKeysFormatter(service=SERVICE))
metrics = Metrics(namespace="ImmichVRDepth", service=SERVICE)
