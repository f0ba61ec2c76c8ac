"""The back end's release, as pyproject.toml names it (a test keeps them equal)."""

from __future__ import annotations

from typing import Final

VERSION: Final = "0.1.0"
