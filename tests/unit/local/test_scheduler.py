"""The local runner's EventBridge: Schedule events of template.yaml, read through its parameters, run
at their rate or on demand."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from immichvr_local.gateway import Gateway
from immichvr_local.intrinsics import Resolver
from immichvr_local.scheduler import Schedule, Scheduler, parse_rate, schedules
from immichvr_local.stack import ACCOUNT_ID, REGION
from immichvr_local.template import Template


def resolver(template: Template, **parameters: str) -> Resolver:
    refs: dict[str, Any] = {"AWS::AccountId": ACCOUNT_ID, "AWS::Region": REGION, "AWS::NoValue": None}
    refs |= {
        name: parameters.get(name, spec.get("Default", "")) for name, spec in template.parameters.items()
    }
    return Resolver(refs, {}, template.document.get("Conditions", {}))


class RecordingPool:
    """Stands in for a FunctionPool: records the events it is invoked with."""

    def __init__(self, on_invoke: Any = None) -> None:
        self.events: list[Any] = []
        self.on_invoke = on_invoke

    def invoke(self, event: Any) -> Any:
        self.events.append(event)
        if self.on_invoke is not None:
            self.on_invoke()
        return {"ok": True}


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(15 minutes)", 900),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(0 3 * * ? *)", None),
    ],
)
def test_rates_are_read_as_eventbridge_reads_them(expression: str, seconds: float | None) -> None:
    assert parse_rate(expression) == seconds


@pytest.mark.parametrize(
    "expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "every 5 min", ""]
)
def test_expressions_eventbridge_refuses_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r"rate|schedule expression"):
        parse_rate(expression)


def test_the_templates_schedules_follow_its_parameters() -> None:
    template = Template.load()

    default = {s.function: s for s in schedules(template, resolver(template))}
    enabled = {
        s.function: s
        for s in schedules(template, resolver(template, EnableImmichSync="true", SyncIntervalMinutes="5"))
    }

    assert default["ImmichSyncFunction"].expression == "rate(15 minutes)"
    assert default["ImmichSyncFunction"].enabled is False
    assert enabled["ImmichSyncFunction"].expression == "rate(5 minutes)"
    assert enabled["ImmichSyncFunction"].enabled is True
    assert enabled["ImmichSyncFunction"].interval_s == 300
    # Generic: every function with a Schedule event is there, whatever it is.
    scheduled = {
        spec.logical_id
        for spec in template.functions()
        for e in spec.events.values()
        if e["Type"] == "Schedule"
    }
    assert set(default) == scheduled


def test_a_schedule_passes_a_scheduled_event_or_its_input() -> None:
    plain = Schedule("ImmichSyncFunction", "SyncSchedule", "rate(5 minutes)", enabled=True)
    with_input = Schedule("F", "E", "rate(5 minutes)", enabled=True, input={"dryRun": True})

    event = plain.event_payload()

    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert event["resources"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/immichvr-local-ImmichSyncFunction-SyncSchedule"
    ]
    assert event["time"].endswith("Z")
    assert with_input.event_payload() == {"dryRun": True}


def test_the_timer_invokes_enabled_schedules_at_their_rate_and_never_disabled_ones() -> None:
    on = Schedule("On", "Tick", "rate(1 minute)", enabled=True)
    off = Schedule("Off", "Tick", "rate(1 minute)", enabled=False)
    scheduler: Scheduler
    on_pool = RecordingPool(on_invoke=lambda: len(on_pool.events) == 3 and scheduler.stop())
    off_pool = RecordingPool()
    # A clock that has always moved on a minute by the time the scheduler looks again.
    ticks = itertools.count(0, 60)
    scheduler = Scheduler([on, off], {"On": on_pool, "Off": off_pool}, clock=lambda: float(next(ticks)))  # type: ignore[dict-item]

    scheduler.run()

    assert len(on_pool.events) == 3
    assert all(event["detail-type"] == "Scheduled Event" for event in on_pool.events)
    assert off_pool.events == []


def test_a_schedule_can_be_run_now_through_the_local_route_even_when_disabled() -> None:
    pool = RecordingPool()
    scheduler = Scheduler(
        [Schedule("ImmichSyncFunction", "SyncSchedule", "rate(15 minutes)", enabled=False)],
        {"ImmichSyncFunction": pool},
    )  # type: ignore[dict-item]
    gateway = Gateway([], {}, "local-key", scheduler.handle_local_request)

    status, body = gateway.local_request(
        "POST", "/_local/schedules/ImmichSyncFunction", {"X-Api-Key": "local-key"}
    )
    listed = gateway.local_request("GET", "/_local/schedules", {"x-api-key": "local-key"})

    assert (status, body) == (200, {"function": "ImmichSyncFunction", "result": {"ok": True}})
    assert len(pool.events) == 1
    assert listed[1]["schedules"][0]["expression"] == "rate(15 minutes)"
    assert gateway.local_request("POST", "/_local/schedules/Nope", {"x-api-key": "local-key"})[0] == 404
    assert gateway.local_request("POST", "/_local/schedules/ImmichSyncFunction", {})[0] == 403
    assert len(pool.events) == 1
