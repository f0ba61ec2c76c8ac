"""`immichvr-local`: run the whole system on this machine (see README, "Run it locally")."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from immichvr_local.app import LocalSystem
from immichvr_local.template import REPO_ROOT

RUNTIME_FILE = REPO_ROOT / ".local-stack" / "runtime.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="immichvr-local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("LOCAL_AWS_PORT", "0")),
        help="port of the embedded AWS (moto server); 0 picks a free one",
    )
    return parser


def _write_runtime(system: LocalSystem, path: Path) -> None:
    assert system.stack is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "apiUrl": system.api_url,
                "apiKey": system.api_key,
                "awsEndpointUrl": system.stack.endpoint_url,
                "mediaBucket": os.environ.get("MEDIA_BUCKET"),
                "pid": os.getpid(),
            },
            indent=2,
        )
    )


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    system = LocalSystem(host=args.host, port=args.port, aws_port=args.aws_port).start()
    assert system.stack is not None
    _write_runtime(system, RUNTIME_FILE)
    print(
        "\nimmichvr-depth is running locally\n"
        f"  API            {system.api_url}  (send header x-api-key: {system.api_key})\n"
        f"  embedded AWS   {system.stack.endpoint_url}  (bucket {os.environ.get('MEDIA_BUCKET')})\n"
        f"  Immich         {os.environ.get('IMMICH_URL') or 'not set (IMMICH_URL)'}\n"
        f"  depth backend  {os.environ.get('DEPTH_BACKEND')} "
        f"({os.environ.get('DEPTH_MODEL') or 'depth-anything/Depth-Anything-V2-Small-hf'})\n"
        f"  settings       {RUNTIME_FILE}\n"
        "Press Ctrl+C to stop.",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        system.stop()
