"""The runner's own JSON log lines, in the same shape as the functions'."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="immichvr-local")
