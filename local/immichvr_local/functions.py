"""Calling the functions' own handlers in-process, a few warm instances each, as Lambda would."""

from __future__ import annotations

import contextvars
import importlib.util
import itertools
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from immichvr_local.stack import ACCOUNT_ID, REGION
from immichvr_local.template import REPO_ROOT, FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]
_instance_numbers = itertools.count(1)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and our handlers read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_s: int = 120
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def _load_instance(spec: FunctionSpec) -> Handler:
    """A fresh copy of the handler's module: each Lambda instance has its own module state
    (Powertools resolvers keep the current event on the app object)."""
    path = REPO_ROOT / spec.code_uri / f"{spec.handler.rsplit('.', 1)[0]}.py"
    name = f"{spec.module}__instance{next(_instance_numbers)}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load the handler of {spec.logical_id} from {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    handler: Handler = getattr(module, spec.attribute)
    return handler


class FunctionPool:
    """Up to `size` concurrent invocations of one function, each on an instance of its own."""

    def __init__(self, spec: FunctionSpec, size: int, timeout_s: int = 120) -> None:
        self.spec = spec
        self.timeout_s = timeout_s
        self._idle: queue.LifoQueue[Handler] = queue.LifoQueue()
        self._created = 0
        self.size = size  # instances at most, so calls at once
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Any:
        handler = self._acquire()
        try:
            # A context of its own per invocation, as each Lambda invocation has its own process: what
            # one sets in context variables (the log keys among them) never reaches another, nor the
            # runner's own lines on the thread afterwards.
            context = LambdaContext(self.spec.logical_id, timeout_s=self.timeout_s)
            return contextvars.Context().run(handler, event, context)
        finally:
            self._idle.put(handler)

    def _acquire(self) -> Handler:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            may_create = self._created < self.size
            self._created += may_create
        if may_create:
            return _load_instance(self.spec)
        return self._idle.get()
