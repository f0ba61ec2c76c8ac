"""Where a running stack tells other terminals how to reach it: `<state dir>/runtime.json`.

The state directory is `IMMICHVR_LOCAL_STATE_DIR` when set (tests point it at a temporary directory),
otherwise `.local-stack/` at the repository root.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from immichvr_local.template import REPO_ROOT

STATE_DIR_VARIABLE = "IMMICHVR_LOCAL_STATE_DIR"


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_VARIABLE)
    return Path(configured) if configured else REPO_ROOT / ".local-stack"


def runtime_file() -> Path:
    return state_dir() / "runtime.json"


@dataclass(frozen=True)
class RuntimeInfo:
    """What a client needs to use a running stack. The Immich key is never written here."""

    api_url: str
    api_key: str
    aws_endpoint_url: str | None = None
    media_bucket: str | None = None
    # None: the file does not say; "": the stack has no Immich.
    immich_url: str | None = None
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "apiUrl": self.api_url,
            "apiKey": self.api_key,
            "awsEndpointUrl": self.aws_endpoint_url,
            "mediaBucket": self.media_bucket,
            "immichUrl": self.immich_url,
            "pid": self.pid,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def read(cls, path: Path) -> RuntimeInfo | None:
        """The file's contents; None when it is missing or not one a runner wrote."""
        try:
            document = json.loads(path.read_text())
            return cls(
                api_url=str(document["apiUrl"]),
                api_key=str(document["apiKey"]),
                aws_endpoint_url=document.get("awsEndpointUrl"),
                media_bucket=document.get("mediaBucket"),
                immich_url=document.get("immichUrl"),
                pid=document.get("pid"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
