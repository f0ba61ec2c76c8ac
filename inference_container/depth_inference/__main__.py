"""``python -m depth_inference serve``: what SageMaker runs as ``docker run IMAGE serve``."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from depth_inference.server import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m depth_inference", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve /ping and /invocations")
    # SageMaker connects from outside the container, so the default is every interface.
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104
    serve.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    log_level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SageMaker pings every few seconds; an access log line for each would bury everything else.
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=log_level.lower(), access_log=False)


if __name__ == "__main__":
    main()
