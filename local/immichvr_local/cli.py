"""`immichvr-local`: run the whole system on this machine, and try it (see docs/local.md).

immichvr-local [serve] [--port PORT]   run the stack (the default command)
immichvr-local demo [--out DIR]        upload sample photos to it and download their depth maps
immichvr-local import ASSET_ID...      the same for photos in the Immich the stack was given
immichvr-local schedule [LOGICAL_ID]   run a scheduled function of the running stack now (no id: list them)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from depth_inference.model_source import resolve_model_source
from immichvr_local.runtime import RuntimeInfo, runtime_file

if TYPE_CHECKING:
    from immichvr_local.app import LocalSystem

COMMANDS = ("serve", "demo", "import", "schedule")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="immichvr-local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{serve,demo,import,schedule}")

    serve = commands.add_parser("serve", help="run the stack (the default when no command is given)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    serve.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("LOCAL_AWS_PORT", "0")),
        help="port of the embedded AWS (moto server); 0 picks a free one",
    )

    schedule = commands.add_parser(
        "schedule", help="run a function's Schedule event now on the running stack (no id: list them)"
    )
    schedule.add_argument("logical_id", nargs="?", metavar="LOGICAL_ID", help="e.g. ImmichSyncFunction")

    for name, summary in (
        ("demo", "upload sample photos, follow them, download every depth map with a preview"),
        ("import", "import Immich assets, follow them, download every depth map with a preview"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        if name == "import":
            command.add_argument("asset_ids", nargs="+", metavar="ASSET_ID", help="an Immich asset id")
        command.add_argument("--out", type=Path, default=Path("out"), help="where files go (default ./out)")
        command.add_argument(
            "--timeout", type=float, default=900, help="seconds to wait for every depth map (default 900)"
        )
    return parser


def _write_runtime(system: LocalSystem, path: Path) -> None:
    system.runtime_info().write(path)


def _forget_runtime(path: Path) -> None:
    """Remove the runtime file on the way out, unless another runner has written it since."""
    info = RuntimeInfo.read(path)
    if info is not None and info.pid == os.getpid():
        path.unlink(missing_ok=True)


def serve(args: argparse.Namespace) -> int:
    from depth_inference.errors import ModelLoadError
    from immichvr_local.app import LocalSystem

    try:
        system = LocalSystem(host=args.host, port=args.port, aws_port=args.aws_port).start()
    except ModelLoadError as error:
        print(f"immichvr-local: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"immichvr-local: cannot serve on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    assert system.stack is not None
    settings = runtime_file()
    _write_runtime(system, settings)
    print(
        "\nimmichvr-depth is running locally\n"
        f"  API            {system.api_url}  (send header x-api-key: {system.api_key})\n"
        f"  3D viewer      {system.api_url}/viewer/#key={system.api_key}\n"
        f"  embedded AWS   {system.stack.endpoint_url}  (bucket {os.environ.get('MEDIA_BUCKET')})\n"
        f"  Immich         {os.environ.get('IMMICH_URL') or 'not set (IMMICH_URL)'}\n"
        f"  Immich webhook {system.api_url}/api/immich/webhook  "
        f"(header X-Immich-Webhook-Secret: {system.webhook_secret})\n"
        f"  depth backend  {os.environ.get('DEPTH_BACKEND')} "
        f"({resolve_model_source()})\n"
        f"  settings       {settings}\n"
        "Try it from another terminal: make demo\n"
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
        _forget_runtime(settings)
    return 0


def run_schedule(logical_id: str | None) -> int:
    """Ask the running stack to run a scheduled function now (or list its schedules); print the answer."""
    import json

    import requests

    info = RuntimeInfo.read(runtime_file())
    if info is None:
        print("immichvr-local: no running stack found (start one with `make run`)", file=sys.stderr)
        return 1
    url = f"{info.api_url}/_local/schedules" + (f"/{logical_id}" if logical_id else "")
    try:
        answer = requests.request(
            "POST" if logical_id else "GET", url, headers={"x-api-key": info.api_key}, timeout=900
        )
    except requests.RequestException as error:
        print(f"immichvr-local: the stack at {info.api_url} did not answer: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer.json(), indent=2))
    return 0 if answer.ok else 1


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    # `immichvr-local --port 3000` (no command) keeps meaning `serve`.
    if not arguments or arguments[0] not in (*COMMANDS, "-h", "--help"):
        arguments = ["serve", *arguments]
    args = _parser().parse_args(arguments)
    if args.command == "serve":
        return serve(args)
    if args.command == "schedule":
        return run_schedule(args.logical_id)
    from immichvr_local import demo

    if args.command == "demo":
        return demo.run_demo(args.out, timeout_s=args.timeout)
    return demo.run_import(args.asset_ids, args.out, timeout_s=args.timeout)
