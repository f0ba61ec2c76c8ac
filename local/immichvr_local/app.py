"""The whole local system in one process: embedded AWS, the API, and the queue workers."""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from depth_inference.model_source import resolve_model_source
from immichvr_local.async_invoke import (
    AsyncInvoker,
    InvokeConfig,
    S3EventSource,
    retry_delay_from_environment,
)
from immichvr_local.functions import FunctionPool
from immichvr_local.gateway import Gateway, GatewayServer, request_timeout_from_environment
from immichvr_local.logs import logger
from immichvr_local.runtime import RuntimeInfo
from immichvr_local.scheduler import Scheduler, schedules
from immichvr_local.stack import LocalStack
from immichvr_local.template import Template
from immichvr_local.worker import QueueWorker

if TYPE_CHECKING:
    from immichvr_local.async_endpoint import LocalAsyncEndpoint

# What the local system sets on top of the template's own function environment.
LOCAL_DEFAULTS = {
    "DEPTH_BACKEND": "local",
    "POWERTOOLS_METRICS_NAMESPACE": "ImmichVRDepth",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
PASSED_THROUGH = (
    "IMMICH_URL",
    "IMMICH_API_KEY",
    "DEPTH_MODEL",
    "DEPTH_BACKEND",
    "THUMBNAIL_INPUT_SIZE",
    "FULL_RESOLUTION_INPUT_SIZE",
    "MAX_DOWNLOAD_BYTES",
    "MAX_INLINE_RESPONSE_BYTES",
    "POWERTOOLS_LOG_LEVEL",
    "IMPORT_RETRY_BASE_DELAY_S",
    "INFERENCE_MODE",
)
# Template parameters for the local stack, e.g. "EnableImmichSync=true SyncIntervalMinutes=5".
PARAMETERS_VARIABLE = "IMMICHVR_LOCAL_PARAMETERS"


def local_parameters(text: str) -> dict[str, str]:
    """``Name=value`` pairs separated by spaces, or by commas before the next ``Name=``; a comma
    inside a value stays (``DepthTiers=thumbnail,full_resolution``). A pair without ``=`` is an error."""
    pairs = [part for part in re.split(r"\s+|,(?=[A-Za-z][A-Za-z0-9]*=)", text.strip()) if part]
    if any("=" not in pair for pair in pairs):
        raise ValueError(f"{PARAMETERS_VARIABLE} takes Name=value pairs, got {text!r}")
    return dict(pair.split("=", 1) for pair in pairs)


@dataclass
class LocalSystem:
    host: str = "127.0.0.1"
    port: int = 3000
    aws_port: int = 0
    api_key: str = field(default_factory=lambda: os.environ.get("API_KEY") or secrets.token_urlsafe(24))
    instances_per_function: int = 4
    start_workers: bool = True
    stack: LocalStack | None = None
    server: GatewayServer | None = None
    workers: list[QueueWorker | S3EventSource] = field(default_factory=list)
    # How long the API waits for a request's head or body (IMMICHVR_LOCAL_REQUEST_TIMEOUT_S), and the
    # first delay before Lambda retries a failed S3 event (IMMICHVR_LOCAL_ASYNC_RETRY_DELAY_S).
    request_timeout_s: float = field(default_factory=request_timeout_from_environment)
    async_retry_delay_s: float = field(default_factory=retry_delay_from_environment)
    # The secret Immich's Trigger Webhook action must send (header X-Immich-Webhook-Secret).
    webhook_secret: str = field(
        default_factory=lambda: os.environ.get("IMMICH_WEBHOOK_SECRET") or secrets.token_urlsafe(24)
    )
    scheduler: Scheduler | None = None
    async_endpoint: LocalAsyncEndpoint | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalSystem:
        overrides = {name: os.environ[name] for name in PASSED_THROUGH if os.environ.get(name)}
        template = Template.load()
        parameters = local_parameters(os.environ.get(PARAMETERS_VARIABLE, ""))
        if os.environ.get("INFERENCE_MODE"):
            # The template's InferenceMode: the functions' INFERENCE_MODE and the async resources follow it.
            parameters.setdefault("InferenceMode", os.environ["INFERENCE_MODE"])
        self.stack = LocalStack.start(template, port=self.aws_port, parameters=parameters)
        overrides["IMMICH_WEBHOOK_SECRET"] = self.webhook_secret
        os.environ.update(self.stack.function_environment() | LOCAL_DEFAULTS | overrides)
        # The shared package reads its settings once; it must see the environment just set.
        from immichvr_depth.platform.aws import reset_clients
        from immichvr_depth.platform.settings import get_settings

        get_settings.cache_clear()
        reset_clients()
        self._load_depth_backend()
        self._start_async_endpoint()

        pools = {
            spec.logical_id: FunctionPool(spec, self.instances_per_function) for spec in template.functions()
        }
        self.scheduler = Scheduler(schedules(template, self.stack.resolver()), pools)
        gateway = Gateway(
            template.routes(),
            pools,
            self.api_key,
            self.scheduler.handle_local_request,
            request_timeout_s=self.request_timeout_s,
        )
        self.server = gateway.serve(self.host, self.port)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True).start()
        if self.start_workers:
            self.workers = self._queue_workers(template, pools)
            for worker in self.workers:
                worker.start()
            self.scheduler.start()
        return self

    def runtime_info(self) -> RuntimeInfo:
        """How another terminal reaches this system."""
        assert self.stack is not None
        return RuntimeInfo(
            api_url=self.api_url,
            api_key=self.api_key,
            aws_endpoint_url=self.stack.endpoint_url,
            media_bucket=os.environ.get("MEDIA_BUCKET"),
            immich_url=os.environ.get("IMMICH_URL", ""),
            pid=os.getpid(),
        )

    def _load_depth_backend(self) -> None:
        """Load the model before serving, so a missing model fails the start, not the first photo."""
        from immichvr_depth.depth.backends import LAMBDA, backend_from_settings
        from immichvr_local.depth_backend import (
            LOCAL,
            local_engine,
            register_in_process_backend,
            register_lambda_backend,
        )

        assert self.stack is not None
        register_in_process_backend()
        # DEPTH_BACKEND=lambda: the depth inference function's handler in-process, throttled past the
        # template's reserved concurrency (DepthFunctionMaxConcurrency; 0 reserves none).
        register_lambda_backend(int(self.stack.refs.get("DepthFunctionMaxConcurrency") or 0) or None)
        logger.info("depth backend", depth_backend=os.environ.get("DEPTH_BACKEND"))
        if os.environ.get("DEPTH_BACKEND") not in (LOCAL, LAMBDA):
            return
        model = resolve_model_source()
        logger.info("loading the depth model (the first run downloads it)", model=model)
        started = time.perf_counter()
        backend_from_settings()
        local_engine()
        logger.info("depth model ready", model=model, seconds=round(time.perf_counter() - started, 1))

    def _start_async_endpoint(self) -> None:
        """In async mode with the local backend, the emulated asynchronous endpoint answers the
        processor's submissions through the embedded AWS (S3, SNS, the completion queue)."""
        from immichvr_depth.platform.settings import get_settings

        # Imported here, like the shared package everywhere in this module: after the environment is set.
        from immichvr_local.async_endpoint import LocalAsyncEndpoint
        from immichvr_local.depth_backend import LOCAL, local_engine, register_async_endpoint

        assert self.stack is not None
        settings = get_settings()
        if settings.inference_mode != "async" or settings.depth_backend != LOCAL:
            return
        self.async_endpoint = LocalAsyncEndpoint.from_stack(self.stack, local_engine)
        register_async_endpoint(self.async_endpoint)
        logger.info("asynchronous inference: emulated endpoint answers through SNS and the completion queue")

    def _queue_workers(
        self, template: Template, pools: dict[str, FunctionPool]
    ) -> list[QueueWorker | S3EventSource]:
        assert self.stack is not None
        stack, resolver = self.stack, self.stack.resolver()
        workers: list[QueueWorker | S3EventSource] = []
        for spec, props in template.event_sources("SQS"):
            queue_arn = resolver.resolve(props["Queue"])
            workers.append(
                QueueWorker(
                    stack.client("sqs"),
                    stack.queue_url_for_arn(queue_arn),
                    queue_arn,
                    pools[spec.logical_id],
                    int(props.get("BatchSize", 10)),
                )
            )
        for spec, props in template.event_sources("S3"):
            events = props["Events"] if isinstance(props["Events"], list) else [props["Events"]]
            rules = props.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            queue_url, _ = stack.deliver_bucket_events(
                resolver.resolve(props["Bucket"]), events, rules, spec.logical_id
            )
            # S3 invokes asynchronously: each event on its own, with Lambda's retries and destinations.
            invoker = AsyncInvoker(
                pools[spec.logical_id], InvokeConfig.of(spec, resolver), stack, self.async_retry_delay_s
            )
            workers.append(S3EventSource(stack.client("sqs"), queue_url, invoker))
        return workers

    def stop(self) -> None:
        if self.async_endpoint is not None:
            from immichvr_local.depth_backend import register_async_endpoint

            register_async_endpoint(None)
            self.async_endpoint.close()
        if self.scheduler is not None:
            self.scheduler.stop()
        for worker in self.workers:
            worker.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.stack is not None:
            self.stack.stop()
