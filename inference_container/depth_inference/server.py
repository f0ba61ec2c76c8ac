"""The SageMaker hosting contract over HTTP: GET /ping, POST /invocations, plus GET /metrics.

The model loads in a background task so that /ping can answer 503 until it is loaded and warmed up.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from depth_inference import attributes
from depth_inference.codec import check_content_type
from depth_inference.engine import DepthEngine, DepthOutput
from depth_inference.errors import InvalidInput
from depth_inference.service import DepthService

logger = logging.getLogger(__name__)

EngineLoader = Callable[[], DepthEngine]


@dataclass(frozen=True)
class ServerSettings:
    batch_window_ms: float = 5.0
    max_batch_size: int | None = None  # None: service.default_max_batch_size for the engine's device

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServerSettings:
        defaults = cls()
        return cls(
            batch_window_ms=float(environ.get("BATCH_WINDOW_MS", defaults.batch_window_ms)),
            max_batch_size=int(environ["MAX_BATCH_SIZE"]) if "MAX_BATCH_SIZE" in environ else None,
        )


class _ModelState:
    def __init__(self) -> None:
        self.service: DepthService | None = None
        self.load_error: str | None = None


def create_app(
    load_engine: EngineLoader = DepthEngine.load, settings: ServerSettings | None = None
) -> Starlette:
    settings = settings or ServerSettings.from_env()
    state = _ModelState()

    async def load() -> None:
        try:
            engine = await asyncio.to_thread(load_engine)
        except Exception as exc:  # /ping reports it; the process stays up to say why
            logger.exception("the depth model failed to load")
            state.load_error = str(exc)
            return
        service = DepthService(
            engine, window_s=settings.batch_window_ms / 1000, max_batch_size=settings.max_batch_size
        )
        service.start()
        state.service = service

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        loading = asyncio.create_task(load(), name="load-depth-model")
        try:
            yield
        finally:
            loading.cancel()
            if state.service is not None:
                await state.service.stop()

    async def ping(_: Request) -> Response:
        if state.service is not None:
            engine = state.service.engine
            # 200 is all SageMaker reads; the body says what serves: device, dtype and why that dtype,
            # and whether working sizes are compiled (each one's state: queued, compiling, compiled).
            return JSONResponse(
                {
                    "status": "healthy",
                    "model_name": engine.model_name,
                    "model_version": engine.model_version,
                    **engine.precision.describe(),
                    "compile": engine.compile_status(),
                }
            )
        if state.load_error is not None:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "model_load_failed", state.load_error)
        return JSONResponse({"status": "loading"}, HTTPStatus.SERVICE_UNAVAILABLE)

    async def invocations(request: Request) -> Response:
        service = state.service
        if service is None:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "model_not_ready", "the model is still loading")
        check_content_type(request.headers.get("content-type"))
        params = attributes.parse(request.headers.get(attributes.HEADER))
        output = await service.predict(await request.body(), params)
        return Response(output.png, media_type="image/png", headers=_depth_headers(output))

    async def metrics(_: Request) -> Response:
        if state.service is None:
            return JSONResponse({"ready": False})
        return JSONResponse({"ready": True, **state.service.batcher.stats.snapshot()})

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={InvalidInput: _invalid_input, Exception: _internal_error},
    )


def _depth_headers(output: DepthOutput) -> dict[str, str]:
    facts: dict[str, str | int | float] = {
        "model_name": output.model_name,
        "model_version": output.model_version,
        "depth_min": output.depth_min,
        "depth_max": output.depth_max,
        "input_size": output.input_size,
    }
    return {
        "X-Depth-Min": repr(output.depth_min),
        "X-Depth-Max": repr(output.depth_max),
        "X-Model-Name": output.model_name,
        "X-Model-Version": output.model_version,
        "X-Input-Size": str(output.input_size),
        # InvokeEndpoint drops every other response header; this one reaches the caller.
        attributes.HEADER: attributes.format_attributes(facts),
    }


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status)


async def _invalid_input(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInput)
    logger.info("rejected an invocation (%d): %s", exc.status, exc.message)
    return _error(exc.status, exc.code, exc.message)


async def _internal_error(_: Request, exc: Exception) -> Response:
    logger.error("invocation failed", exc_info=exc)
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", f"{type(exc).__name__}: {exc}")
