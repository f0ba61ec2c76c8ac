"""The API's HTTP behaviour, pinned: the transcript of one fixed scenario (transcript.py), recorded
against the local runner, must equal the golden transcript committed beside this module.

The test fails with a unified diff of the golden file against what was recorded, after the steps
whose entries differ. A difference is either a regression, or a deliberate change of the API; for the
latter, rewrite the golden file and commit it with the change::

    TRANSCRIPT_WRITE=1 pytest tests/integration/test_transcript.py

(The test then writes the file and is reported as skipped, so a rewrite is never mistaken for a
pass.) Review the rewritten file's diff before committing it: every changed line is a change callers
see."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fake_immich import FakeImmich
from tests.integration import transcript
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "transcript-api-key"
IMMICH_KEY = "transcript-immich-key"
# The environment the golden transcript was recorded under (the webhook secret, the model's input
# sizes, the inline-response cap): part of what it pins.
RUNNER_ENV = transcript.RUNNER_ENV
GOLDEN = Path(__file__).with_name("transcript.golden.json")
WRITE_VARIABLE = "TRANSCRIPT_WRITE"


def _differing_steps(golden: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> list[str]:
    lines = []
    for index in range(max(len(golden), len(recorded))):
        expected = golden[index] if index < len(golden) else None
        actual = recorded[index] if index < len(recorded) else None
        if expected != actual:
            step = (actual or expected or {}).get("step", "?")
            lines.append(f"  entry {index}: {step}")
    return lines


def test_the_api_answers_as_the_golden_transcript_records(runner: Runner, immich: FakeImmich) -> None:
    recorded = transcript.dumps(transcript.record(runner, immich))

    if os.environ.get(WRITE_VARIABLE) == "1":
        GOLDEN.write_text(recorded)
        pytest.skip(f"{WRITE_VARIABLE}=1: wrote {GOLDEN.name}; review its diff and commit it")
    golden = GOLDEN.read_text()
    if recorded == golden:
        return
    steps = _differing_steps(json.loads(golden), json.loads(recorded))
    diff = "".join(
        difflib.unified_diff(
            golden.splitlines(keepends=True),
            recorded.splitlines(keepends=True),
            fromfile=f"{GOLDEN.name} (golden)",
            tofile="recorded now",
            n=6,
        )
    )
    pytest.fail(
        f"the API answered differently from {GOLDEN.name} in {len(steps)} entries:\n"
        + "\n".join(steps)
        + f"\n\n{diff}\nA deliberate change of the API? Rewrite the golden file with {WRITE_VARIABLE}=1 "
        "(see this module's docstring).",
        pytrace=False,
    )
