"""API Gateway, locally: each HTTP request becomes the REST proxy event the deployed API sends.

HTTP itself is uvicorn's (a maintained server: framing, keep-alive, a deep listen backlog), run in a
thread of the runner; the gateway is the ASGI app it serves. The app builds the event, routes it, checks
the API key, and calls the function in a thread of its own, never on the event loop. What uvicorn does
not limit, the gateway does as API Gateway does: a 10 MB payload, a 10 KB request head, and a deadline
for a request's head and body so that a client that stops sending frees what it held. Binary payloads
follow the API's BinaryMediaTypes in template.yaml as API Gateway's do: a request body whose
Content-Type is listed reaches the function base64-encoded, and a function's base64 body reaches the
client as bytes only when the request's first Accept type is listed, as base64 text otherwise."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import formatdate
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from immichvr_local.functions import FunctionPool
from immichvr_local.logs import logger
from immichvr_local.template import Route, Template

STAGE = "v1"
# Routes of the local runner itself (e.g. running a schedule now); never part of the deployed API.
LOCAL_PREFIX = "/_local/"
LocalHandler = Callable[[str, str], tuple[int, dict[str, Any]]]
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")
# The methods API Gateway's REST API takes; any other gets a 501.
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
# API Gateway's quotas for a REST API: a 10 MB payload, 10240 bytes of request line and header values.
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_HEAD_BYTES = 10 * 1024
# What h11 buffers of a head still incomplete (its default): a bound on memory, not the quota.
_MAX_INCOMPLETE_HEAD_BYTES = 16 * 1024
# Connections waiting to be accepted: bursts of clients are queued, never reset (the kernel caps it at
# net.core.somaxconn).
BACKLOG = 2048
# Seconds a request's head, and then its body, may take to arrive; a connection idle between requests
# is closed after KEEP_ALIVE_S.
REQUEST_TIMEOUT_VARIABLE = "IMMICHVR_LOCAL_REQUEST_TIMEOUT_S"
DEFAULT_REQUEST_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
_FORBIDDEN = {"message": "Forbidden: a valid x-api-key header is required"}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@cache
def template_binary_media_types() -> tuple[str, ...]:
    """The API's BinaryMediaTypes in template.yaml (read once: the template does not change while the
    runner runs)."""
    return Template.load().binary_media_types()


def is_binary_media_type(media_type: str | None, binary_media_types: Sequence[str]) -> bool:
    """API Gateway's rule, from the shared package's one statement of it. Imported when first used:
    the shared package's modules read the environment when imported, and the runner sets it after
    importing this module."""
    from immichvr_depth.platform.http import is_binary_media_type as listed

    return listed(media_type, binary_media_types)


def binary_accepted(accept: str | None, binary_media_types: Sequence[str]) -> bool:
    """Whether API Gateway hands a function's base64 body to this request's client as bytes."""
    from immichvr_depth.platform.http import binary_accepted as accepted

    return accepted(accept, binary_media_types)


def build_event(
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
    source_ip: str,
    *,
    binary_media_types: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The REST proxy event of a request; `binary_media_types` are the API's (None: the template's)."""
    split = urlsplit(raw_path)
    query = parse_qsl(split.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        multi_query.setdefault(key, []).append(value)
    content_type = _header(headers, "Content-Type") or ""
    if binary_media_types is None:
        binary_media_types = template_binary_media_types()
    # API Gateway base64-encodes a body whose Content-Type is a binary media type and passes any
    # other as text. The runner also base64-encodes a body that is neither a text type nor UTF-8,
    # where API Gateway would pass mangled text: the function sees the bytes sent, and refuses them.
    is_text = not body or (
        not is_binary_media_type(content_type, binary_media_types)
        and content_type.startswith(_TEXT_TYPES)
        and _is_utf8(body)
    )
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    return {
        "resource": route.resource,
        "path": split.path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": method,
            "path": f"/{STAGE}{split.path}",
            "stage": STAGE,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "protocol": "HTTP/1.1",
            "accountId": "123456789012",
            "apiId": "local",
            "identity": {"sourceIp": source_ip, "userAgent": _header(headers, "User-Agent")},
        },
        "body": (body.decode() if is_text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": bool(body) and not is_text,
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by name, in any case (HTTP's names are case-insensitive; ASGI lowercases them)."""
    if name in headers:
        return headers[name]
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _is_utf8(body: bytes) -> bool:
    """A text body that is not UTF-8 travels base64-encoded, as a binary one does, so the function
    sees it and refuses it instead of the request thread failing on it."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _declared_length(headers: Mapping[str, str]) -> int:
    """The Content-Length sent (h11 has refused one that is no length); 0 for none, as for a chunked body."""
    try:
        return int((_header(headers, "Content-Length") or "0").split(",")[0])
    except ValueError:
        return 0


def _json_result(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def request_timeout_from_environment() -> float:
    return float(os.environ.get(REQUEST_TIMEOUT_VARIABLE) or DEFAULT_REQUEST_TIMEOUT_S)


class Gateway:
    """The ASGI app: one REST proxy event per request, to the function whose route it matches."""

    def __init__(
        self,
        routes: list[Route],
        pools: Mapping[str, FunctionPool],
        api_key: str,
        local_handler: LocalHandler | None = None,
        *,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        binary_media_types: Sequence[str] | None = None,
    ) -> None:
        self.routes = routes
        self.pools = pools
        self.api_key = api_key
        self.local_handler = local_handler
        self.request_timeout_s = request_timeout_s
        # The API's BinaryMediaTypes (None: template.yaml's, which the deployed API is made from).
        self.binary_media_types: tuple[str, ...] = tuple(
            template_binary_media_types() if binary_media_types is None else binary_media_types
        )
        # Each function's calls run in threads of its own, as many as it has instances: one function's
        # queue of requests never takes the threads another's need.
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._executors_lock = threading.Lock()

    def local_request(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """A local-only route (``/_local/...``): always behind the API key."""
        if not self._presented_key_matches(headers):
            return HTTPStatus.FORBIDDEN, _FORBIDDEN
        if self.local_handler is None:
            return HTTPStatus.NOT_FOUND, {"message": f"no route for {method} {path}"}
        return self.local_handler(method, path.removeprefix(LOCAL_PREFIX))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for a request's path as sent (percent-encoded), and its path parameters decoded, as
        API Gateway decodes them: matching the encoded path keeps an encoded slash inside its segment."""
        for route in self.routes:
            # A CORS preflight goes to whichever function owns the path, as API Gateway's OPTIONS does.
            params = route.match(route.method if method == "OPTIONS" else method, path)
            if params is not None:
                return route, {name: unquote(value) for name, value in params.items()}
        return None

    def key_accepted(self, route: Route, method: str, headers: Mapping[str, str]) -> bool:
        # CORS preflight never carries the key, as API Gateway allows.
        if method == "OPTIONS" or not route.api_key_required:
            return True
        return self._presented_key_matches(headers)

    def _presented_key_matches(self, headers: Mapping[str, str]) -> bool:
        # Header names are case-insensitive, as API Gateway reads them.
        presented = _header(headers, "x-api-key") or ""
        return hmac.compare_digest(presented.encode(), self.api_key.encode())

    def serve(self, host: str, port: int) -> GatewayServer:
        """The gateway on `host:port`, bound and listening now; `serve_forever` serves it."""
        return GatewayServer(self, host, port)

    def close(self) -> None:
        with self._executors_lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- ASGI -------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        method: str = scope["method"]
        query = scope.get("query_string", b"")
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode()
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        path = urlsplit(target).path
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        head_size = len(f"{method} {target} HTTP/1.1") + sum(len(value) for _, value in scope["headers"])
        if head_size > MAX_HEAD_BYTES:
            logger.warning("request head over the quota refused", bytes=head_size, limit=MAX_HEAD_BYTES)
            too_large = _json_result(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, _HEAD_TOO_LARGE)
            await _send_lambda_result(send, too_large, close=True)
            return
        body = await self._read_body(receive, send, headers)
        if body is None:
            return  # answered already (too large, too slow), or the client went away
        client = scope.get("client")
        result = await self._dispatch(method, target, path, headers, body, client[0] if client else "")
        accepted = binary_accepted(_header(headers, "Accept"), self.binary_media_types)
        await _send_lambda_result(send, result, deliver_bytes=accepted)
        logger.info("request", method=method, path=path, ms=round((time.perf_counter() - started) * 1000, 1))

    async def _read_body(self, receive: Receive, send: Send, headers: Mapping[str, str]) -> bytes | None:
        declared = _declared_length(headers)
        if declared > MAX_BODY_BYTES:
            logger.warning("request body over the quota refused", bytes=declared, limit=MAX_BODY_BYTES)
            await _send_lambda_result(
                send, _json_result(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _TOO_LONG), close=True
            )
            return None
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self.request_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk: bytes = message.get("body", b"")
                    received += len(chunk)
                    if received > MAX_BODY_BYTES:  # a chunked body, which declares no length
                        too_long = _json_result(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _TOO_LONG)
                        await _send_lambda_result(send, too_long, close=True)
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            message_text = (
                f"the request body did not arrive: {received} of {declared or 'its'} bytes "
                f"in {self.request_timeout_s:g} s"
            )
            logger.warning("request body timed out", received=received, declared=declared)
            await _send_lambda_result(
                send, _json_result(HTTPStatus.BAD_REQUEST, {"message": message_text}), close=True
            )
            return None

    async def _dispatch(
        self, method: str, target: str, path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> dict[str, Any]:
        if method not in METHODS:
            return _json_result(HTTPStatus.NOT_IMPLEMENTED, {"message": f"Unsupported method ({method!r})"})
        loop = asyncio.get_running_loop()
        if path.startswith(LOCAL_PREFIX):
            # A schedule run now may take long: it gets a thread, as a function's call does.
            status, answer = await loop.run_in_executor(
                self._executor(LOCAL_PREFIX, 4), self.local_request, method, path, headers
            )
            return _json_result(status, answer)
        found = self.match(method, path)
        if found is None:
            return _json_result(HTTPStatus.NOT_FOUND, {"message": f"no route for {method} {path}"})
        route, params = found
        if not self.key_accepted(route, method, headers):
            return _json_result(HTTPStatus.FORBIDDEN, _FORBIDDEN)
        event = build_event(
            method,
            target,
            headers,
            body,
            route,
            params,
            source_ip,
            binary_media_types=self.binary_media_types,
        )
        pool = self.pools[route.function]
        try:
            result = await loop.run_in_executor(
                self._executor(route.function, getattr(pool, "size", 4)), pool.invoke, event
            )
        except Exception:
            logger.exception("handler crashed", function=route.function)
            return _json_result(HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
        if not isinstance(result, dict):  # API Gateway's answer to a malformed proxy response
            logger.error("handler returned no proxy response", function=route.function)
            return _json_result(HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
        return result

    def _executor(self, name: str, threads: int) -> ThreadPoolExecutor:
        with self._executors_lock:
            if name not in self._executors:
                self._executors[name] = ThreadPoolExecutor(
                    max_workers=max(1, threads), thread_name_prefix=f"api-{name.strip('/')}"
                )
            return self._executors[name]


_TOO_LONG = {"message": "Request Too Long"}  # API Gateway's answer to a payload over its quota
_HEAD_TOO_LARGE = {"message": "Request Header Fields Too Large"}


def _payload(result: Mapping[str, Any], deliver_bytes: bool) -> bytes:
    """The body API Gateway sends for a proxy result: a base64 body (isBase64Encoded) decoded when the
    request accepts binary, else that base64 text as it is; ValueError for base64 that is not."""
    raw = result.get("body") or ""
    if result.get("isBase64Encoded") and deliver_bytes:
        return base64.b64decode(raw)
    return str(raw).encode()


async def _send_lambda_result(
    send: Send, result: dict[str, Any], *, deliver_bytes: bool = False, close: bool = False
) -> None:
    """The function's result as API Gateway's REST proxy answers it: its status, its headers and multi-value
    headers (the gateway's own Content-Length, never the function's framing headers), and its body,
    decoded from base64 only when `deliver_bytes` (binary_accepted). The headers are the function's
    either way: a body left as base64 text keeps its Content-Type (image/png), as API Gateway's does."""
    try:
        payload = _payload(result, deliver_bytes)
    except ValueError:  # binascii.Error, or a body that is not even ASCII
        # API Gateway answers 500 to a base64 body it cannot decode.
        logger.error("handler returned a body that is not base64")
        result = _json_result(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal server error"})
        payload = _payload(result, deliver_bytes)
    headers: dict[str, list[str]] = {k: [str(v)] for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(key, []).extend(str(v) for v in values if str(v) not in headers.get(key, []))
    sent = [
        (key.encode("latin-1"), value.encode("latin-1"))
        for key, values in headers.items()
        if key.lower() not in {"content-length", "connection", "transfer-encoding"}
        for value in values
    ]
    sent.append((b"Content-Length", str(len(payload)).encode()))
    sent.insert(0, (b"Date", formatdate(usegmt=True).encode()))
    if close:
        sent.append((b"Connection", b"close"))
    await send({"type": "http.response.start", "status": int(result.get("statusCode", 200)), "headers": sent})
    await send({"type": "http.response.body", "body": payload})  # uvicorn leaves it out for HEAD


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1, with deadlines it leaves out: a connection that never sends a byte is closed
    after the keep-alive time (uvicorn times out idle connections only after a first answer), and once a
    request's head has begun, the rest of it must follow within `head_timeout_s` or the connection is
    dropped (there is no request yet to answer). The body's deadline is the app's."""

    head_timeout_s = DEFAULT_REQUEST_TIMEOUT_S
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            self._cancel_head_deadline()
        elif self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            logger.warning("request head timed out; connection dropped", client=str(self.client))
            self.timeout_keep_alive_handler()


class GatewayServer:
    """uvicorn serving a Gateway on a socket bound and listening from construction on (the port is known
    at once, and connections queue in the backlog until uvicorn's loop takes them), with http.server's
    few methods: `serve_forever` (in a thread of its own), `shutdown`, `server_close`, `server_address`."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.gateway = gateway
        self.socket = socket.create_server((host, port), backlog=BACKLOG)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        protocol = type("GatewayProtocol", (_Protocol,), {"head_timeout_s": gateway.request_timeout_s})
        config = uvicorn.Config(
            gateway,
            http=protocol,
            lifespan="off",
            backlog=BACKLOG,
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=3,
            h11_max_incomplete_event_size=_MAX_INCOMPLETE_HEAD_BYTES,
            log_config=None,
            access_log=False,
            # The event's source IP is the peer's, as API Gateway's is: no X-Forwarded-For rewriting.
            proxy_headers=False,
            server_header=False,
            date_header=False,  # the app's own, spelt as before
        )
        self._server = uvicorn.Server(config)
        self._stopped = threading.Event()
        self._serving = False
        # uvicorn's own warnings (a request it could not parse, say) as the runner's JSON lines.
        uvicorn_log = logging.getLogger("uvicorn.error")
        if logger.registered_handler not in uvicorn_log.handlers:
            uvicorn_log.addHandler(logger.registered_handler)
        uvicorn_log.propagate = False

    def serve_forever(self) -> None:
        self._serving = True
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._server.should_exit = True
        if self._serving:
            self._stopped.wait(timeout=10)

    def server_close(self) -> None:
        self.socket.close()
        self.gateway.close()


class _RequestHandler:
    """Which methods reach the API, one ``do_<METHOD>`` each, as the http.server handler the gateway had
    said (tests/integration/test_api_hardening.py asks); any other method is a 501."""


for _method in METHODS:
    setattr(_RequestHandler, f"do_{_method}", None)
