"""The Powertools logger, metrics and tracer every function shares, so all lines carry the same keys."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "immichvr-depth"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="ImmichVRDepth", service=SERVICE)
tracer = Tracer(service=SERVICE)
