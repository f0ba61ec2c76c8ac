"""The local runner as a subprocess on loopback, as a user starts it: for tests and benches that drive
the system over real HTTP (the gateway's key check, the queue workers, the embedded AWS)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from immichvr_local.stack import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
FINISHED = frozenset({"completed", "failed"})


@dataclass
class Runner:
    url: str
    api_key: str
    process: subprocess.Popen[bytes] | None = None  # None: a runner someone else started
    log: Path | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"x-api-key": self.api_key} | kwargs.pop("headers", {})
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url + path, headers=headers, **kwargs)

    def upload(self, filename: str, body: bytes, content_type: str = "image/jpeg") -> str:
        """A photo sent as a client sends it: a ticket from the API, then the form POST to S3. Returns
        the media item id the upload becomes."""
        ticket = self.call(
            "POST",
            "/api/media/uploads",
            json={"filename": filename, "contentType": content_type, "size": len(body)},
        )
        assert ticket.status_code == 201, ticket.text
        upload = ticket.json()["upload"]
        # S3 takes the key from the ticket's fields; the form's own file name plays no part.
        stored = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("upload", body, content_type)}, timeout=30
        )
        assert stored.status_code in {200, 204}, stored.text
        return str(ticket.json()["mediaItemId"])

    def log_tail(self, chars: int = 4000) -> str:
        if self.log is None or not self.log.exists():
            return "(no runner log)"
        return self.log.read_text(errors="replace")[-chars:]

    def wait_finished(self, media_item_id: str, timeout_s: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self.call("GET", f"/api/media/{media_item_id}")
            if response.status_code == 200 and response.json()["processing_status"] in FINISHED:
                return dict(response.json())
            time.sleep(0.3)
        raise AssertionError(f"{media_item_id} did not finish; runner log:\n{self.log_tail()}")


@contextmanager
def running_runner(
    *,
    api_key: str,
    log: Path,
    model_dir: Path,
    immich_url: str = "",
    immich_api_key: str = "",
    extra_env: dict[str, str] | None = None,
    startup_timeout_s: float = 180,
) -> Iterator[Runner]:
    """`python -m immichvr_local` on a free loopback port, stopped (SIGTERM) on exit."""
    port = free_port()
    env = os.environ | {
        "API_KEY": api_key,
        "IMMICH_URL": immich_url,
        "IMMICH_API_KEY": immich_api_key,
        "DEPTH_MODEL": str(model_dir),
        "DEPTH_BACKEND": "local",
        "PYTHONUNBUFFERED": "1",
    }
    # A developer's own `make run` keeps its state file; the runner under test gets its own beside its log.
    env["IMMICHVR_LOCAL_STATE_DIR"] = str(log.parent / "state")
    env |= extra_env or {}
    # The runner names its tables after the template; names set for in-process tests must not leak in.
    for name in ("MEDIA_TABLE", "DEPTH_MAPS_TABLE", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "immichvr_local", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    runner = Runner(f"http://127.0.0.1:{port}", api_key, process, log)
    try:
        _wait_until_serving(runner, startup_timeout_s)
        yield runner
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_serving(runner: Runner, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if runner.process is not None and runner.process.poll() is not None:
            raise AssertionError(f"runner exited early:\n{runner.log_tail()}")
        try:
            if runner.call("GET", "/api/media", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"runner did not start in {timeout_s} s:\n{runner.log_tail()}")
