"""The release /api/health answers is the one pyproject.toml names."""

from __future__ import annotations

import tomllib
from pathlib import Path

from immichvr_depth.platform.release import VERSION

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_the_release_is_the_projects_version() -> None:
    assert tomllib.loads(PYPROJECT.read_text())["project"]["version"] == VERSION
