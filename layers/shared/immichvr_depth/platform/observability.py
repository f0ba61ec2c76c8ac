"""The Powertools logger and metrics every function shares, so all lines carry the same keys.

No Powertools Tracer: the X-Ray SDK it loads costs a quarter of a second of every cold start, and
the template's `Tracing: Active` already records each invocation."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "immichvr-depth"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="ImmichVRDepth", service=SERVICE)
