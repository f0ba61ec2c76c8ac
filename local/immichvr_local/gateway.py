"""API Gateway, locally: each HTTP request becomes the REST proxy event the deployed API sends."""

from __future__ import annotations

import base64
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from immichvr_local.functions import FunctionPool
from immichvr_local.logs import logger
from immichvr_local.template import Route

STAGE = "v1"
# Routes of the local runner itself (e.g. running a schedule now); never part of the deployed API.
LOCAL_PREFIX = "/_local/"
LocalHandler = Callable[[str, str], tuple[int, dict[str, Any]]]
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


def build_event(
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
    source_ip: str,
) -> dict[str, Any]:
    split = urlsplit(raw_path)
    query = parse_qsl(split.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        multi_query.setdefault(key, []).append(value)
    content_type = headers.get("Content-Type", headers.get("content-type", ""))
    is_text = not body or (content_type.startswith(_TEXT_TYPES) and _is_utf8(body))
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
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
        },
        "body": (body.decode() if is_text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": bool(body) and not is_text,
    }


def _is_utf8(body: bytes) -> bool:
    """A text body that is not UTF-8 travels base64-encoded, as a binary one does, so the function
    sees it and refuses it instead of the request thread failing on it."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


class Gateway:
    def __init__(
        self,
        routes: list[Route],
        pools: Mapping[str, FunctionPool],
        api_key: str,
        local_handler: LocalHandler | None = None,
    ) -> None:
        self.routes = routes
        self.pools = pools
        self.api_key = api_key
        self.local_handler = local_handler

    def local_request(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """A local-only route (``/_local/...``): always behind the API key."""
        if not self._presented_key_matches(headers):
            return HTTPStatus.FORBIDDEN, {"message": "Forbidden: a valid x-api-key header is required"}
        if self.local_handler is None:
            return HTTPStatus.NOT_FOUND, {"message": f"no route for {method} {path}"}
        return self.local_handler(method, path.removeprefix(LOCAL_PREFIX))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            # A CORS preflight goes to whichever function owns the path, as API Gateway's OPTIONS does.
            params = route.match(route.method if method == "OPTIONS" else method, path)
            if params is not None:
                return route, params
        return None

    def key_accepted(self, route: Route, method: str, headers: Mapping[str, str]) -> bool:
        # CORS preflight never carries the key, as API Gateway allows.
        if method == "OPTIONS" or not route.api_key_required:
            return True
        return self._presented_key_matches(headers)

    def _presented_key_matches(self, headers: Mapping[str, str]) -> bool:
        # Header names are case-insensitive, as API Gateway reads them.
        presented = next((value for name, value in headers.items() if name.lower() == "x-api-key"), "")
        return hmac.compare_digest(presented.encode(), self.api_key.encode())

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        gateway = self

        class Handler(_RequestHandler):
            owner = gateway

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        return server


class _RequestHandler(BaseHTTPRequestHandler):
    owner: Gateway
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged as JSON lines by `_handle` instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # Methods no route uses still get the API's JSON answer, not http.server's HTML 501 page.
    def do_PATCH(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _handle(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        headers = {key: value for key, value in self.headers.items()}
        found = self.owner.match(self.command, path)
        if path.startswith(LOCAL_PREFIX):
            self._reply_json(*self.owner.local_request(self.command, path, headers))
        elif found is None:
            self._reply_json(HTTPStatus.NOT_FOUND, {"message": f"no route for {self.command} {path}"})
        elif not self.owner.key_accepted(found[0], self.command, headers):
            self._reply_json(
                HTTPStatus.FORBIDDEN, {"message": "Forbidden: a valid x-api-key header is required"}
            )
        else:
            route, params = found
            event = build_event(self.command, self.path, headers, body, route, params, self.client_address[0])
            try:
                result = self.owner.pools[route.function].invoke(event)
            except Exception:
                logger.exception("handler crashed", function=route.function)
                self._reply_json(HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
            else:
                self._reply_lambda(result)
        logger.info(
            "request",
            method=self.command,
            path=path,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def _reply_json(self, status: int, body: dict[str, Any]) -> None:
        self._reply_lambda(
            {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
        )

    def _reply_lambda(self, result: dict[str, Any]) -> None:
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        self.send_response(int(result.get("statusCode", 200)))
        headers: dict[str, list[str]] = {k: [str(v)] for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers.setdefault(key, []).extend(str(v) for v in values if str(v) not in headers.get(key, []))
        for key, values in headers.items():
            if key.lower() in {"content-length", "connection", "transfer-encoding"}:
                continue
            for value in values:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
