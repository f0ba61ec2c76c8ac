"""Telling a refused conditional write apart from a real failure: the one check every store module uses."""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException, TransactWriteError

_REFUSED = "ConditionalCheckFailedException"


def condition_failed(error: PynamoDBException) -> bool:
    """The write was refused because its condition did not hold (someone else got there first)."""
    return error.cause_response_code == _REFUSED


def transaction_condition_failed(error: TransactWriteError, index: int) -> bool:
    """The condition of the transaction's `index`-th operation is what cancelled it."""
    reasons = error.cancellation_reasons
    reason = reasons[index] if index < len(reasons) else None
    return reason is not None and reason.code == "ConditionalCheckFailed"
