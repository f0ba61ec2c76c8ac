"""EventBridge schedules, locally: every SAM ``Schedule`` event of template.yaml invokes its function
with a "Scheduled Event" at its rate, and any of them can be run now (``POST /_local/schedules/{id}``
on the gateway, or ``immichvr-local schedule ID``).

Rates are read through the template's parameters (``!Sub "rate(${SyncIntervalMinutes} minutes)"``)
and checked as EventBridge checks them (``rate(1 minute)``, ``rate(5 minutes)``). A ``State`` of
DISABLED (or ``Enabled: false``) keeps the timer off, though running it now still works. ``cron(...)``
schedules are listed and can be run now; the local timer only keeps rates.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from immichvr_local.functions import FunctionPool
from immichvr_local.intrinsics import Resolver
from immichvr_local.logs import logger
from immichvr_local.stack import ACCOUNT_ID, REGION, STACK_NAME
from immichvr_local.template import Template

_RATE = re.compile(r"rate\(\s*(?P<value>\d+)\s+(?P<unit>minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_SCHEDULES_PATH = re.compile(r"schedules(?:/(?P<id>[A-Za-z0-9]+))?")


def parse_rate(expression: str) -> float | None:
    """Seconds between runs of a ``rate(...)`` expression; None for ``cron(...)``. Raises ValueError for
    what EventBridge would refuse (a zero rate, ``rate(1 minutes)``, ``rate(5 minute)``, junk)."""
    text = expression.strip()
    if text.startswith("cron(") and text.endswith(")"):
        return None
    found = _RATE.fullmatch(text)
    if found is None:
        raise ValueError(f"not a schedule expression EventBridge accepts: {expression!r}")
    value, unit = int(found.group("value")), found.group("unit")
    singular = unit.rstrip("s")
    if value < 1:
        raise ValueError(f"a rate must be at least 1: {expression!r}")
    if (value == 1) != (unit == singular):
        raise ValueError(f"EventBridge wants 'rate(1 {singular})' and 'rate(N {singular}s)': {expression!r}")
    return float(value * _UNIT_SECONDS[singular])


@dataclass(frozen=True)
class Schedule:
    function: str  # the function's logical id
    event: str  # the event's name under the function's Events
    expression: str
    enabled: bool
    input: Any = None  # the event's Input, parsed; None sends the Scheduled Event itself

    @property
    def interval_s(self) -> float | None:
        return parse_rate(self.expression)

    @property
    def rule_arn(self) -> str:
        return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{STACK_NAME}-{self.function}-{self.event}"

    def event_payload(self, now: datetime | None = None) -> Any:
        """What EventBridge passes the function: the event's Input if it has one, else a Scheduled Event."""
        if self.input is not None:
            return self.input
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [self.rule_arn],
            "detail": {},
        }


def _enabled(props: Mapping[str, Any], resolver: Resolver) -> bool:
    if "State" in props:
        return str(resolver.resolve(props["State"])).upper() == "ENABLED"
    enabled = resolver.resolve(props.get("Enabled", True))
    return enabled is True or str(enabled).lower() == "true"


def schedules(template: Template, resolver: Resolver) -> list[Schedule]:
    """Every ``Schedule`` event of the template, resolved. A bad expression fails here, at start-up."""
    found = []
    for spec in template.functions():
        for name, event in spec.events.items():
            if event.get("Type") != "Schedule":
                continue
            props = event.get("Properties", {})
            raw_input = props.get("Input")
            schedule = Schedule(
                function=spec.logical_id,
                event=name,
                expression=str(resolver.resolve(props["Schedule"])),
                enabled=_enabled(props, resolver),
                input=json.loads(str(resolver.resolve(raw_input))) if raw_input is not None else None,
            )
            schedule.interval_s  # noqa: B018 - checks the expression now
            found.append(schedule)
    return found


class Scheduler(threading.Thread):
    """Invokes each enabled rate schedule's function every interval (the first run one interval after
    start, as EventBridge does), one at a time; ``run_now`` invokes a schedule's function at once."""

    def __init__(
        self,
        entries: list[Schedule],
        pools: Mapping[str, FunctionPool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.entries = entries
        self.pools = pools
        self.clock = clock
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def timed(self) -> list[tuple[Schedule, float]]:
        return [
            (entry, interval)
            for entry in self.entries
            if entry.enabled and (interval := entry.interval_s) is not None
        ]

    def run(self) -> None:
        timed = self.timed()
        for entry, interval in timed:
            logger.info("schedule on", function=entry.function, expression=entry.expression, every_s=interval)
        due = [self.clock() + interval for _, interval in timed]
        while timed and not self.stopping.is_set():
            index = min(range(len(due)), key=due.__getitem__)
            if self.stopping.wait(max(0.0, due[index] - self.clock())):
                return
            entry, interval = timed[index]
            self._invoke(entry)
            # A run that took longer than the interval skips the missed beats rather than piling up.
            due[index] = max(due[index] + interval, self.clock())

    def run_now(self, function: str) -> Any:
        """Invoke the function's (first) schedule now, enabled or not. KeyError for no such schedule."""
        entry = next((entry for entry in self.entries if entry.function == function), None)
        if entry is None:
            raise KeyError(function)
        return self.pools[entry.function].invoke(entry.event_payload())

    def _invoke(self, entry: Schedule) -> None:
        try:
            self.pools[entry.function].invoke(entry.event_payload())
        except Exception:
            logger.exception("scheduled function failed", function=entry.function)

    def handle_local_request(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        """The gateway's local-only routes: ``GET schedules`` lists them, ``POST schedules/{LogicalId}``
        runs one now and answers with what the function returned."""
        found = _SCHEDULES_PATH.fullmatch(path)
        if found is None:
            return HTTPStatus.NOT_FOUND, {"message": f"no local route {path}"}
        function = found.group("id")
        if function is None and method == "GET":
            return HTTPStatus.OK, {
                "schedules": [
                    {
                        "function": e.function,
                        "event": e.event,
                        "expression": e.expression,
                        "enabled": e.enabled,
                    }
                    for e in self.entries
                ]
            }
        if function is None or method != "POST":
            return HTTPStatus.METHOD_NOT_ALLOWED, {"message": "POST /_local/schedules/{LogicalId}"}
        try:
            result = self.run_now(function)
        except KeyError:
            return HTTPStatus.NOT_FOUND, {"message": f"{function} has no Schedule event"}
        except Exception as error:
            logger.exception("scheduled function failed", function=function)
            return HTTPStatus.BAD_GATEWAY, {"function": function, "error": type(error).__name__}
        return HTTPStatus.OK, {"function": function, "result": result}
