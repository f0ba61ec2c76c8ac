"""Processing status of a media item and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class ProcessingStatus(StrEnum):
    PENDING = "pending"  # claimed by an import or upload; files not all stored yet
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DELETING = "deleting"  # being removed with its files: a processor arriving now drops it
    # What a deleted item leaves: its record, as a tombstone with no files, out of every listing and
    # answered as not found. Only an explicit Immich import makes the item again; a webhook, a sync,
    # a queued import or a later upload under its key is refused.
    DELETED = "deleted"


# A redelivered message may find its item still `processing` (the worker died) or `failed`
# (a transient error before SQS retried), so both may enter `processing` again.
# Any item may start `deleting`, and a delete that crashed midway starts it again; a delete ends in
# `deleted`, which no transition leaves (an explicit import replaces the tombstone with a new claim).
ALLOWED_TRANSITIONS: dict[ProcessingStatus, frozenset[ProcessingStatus]] = {
    ProcessingStatus.PENDING: frozenset(
        {ProcessingStatus.QUEUED, ProcessingStatus.FAILED, ProcessingStatus.DELETING}
    ),
    ProcessingStatus.QUEUED: frozenset(
        {ProcessingStatus.PROCESSING, ProcessingStatus.FAILED, ProcessingStatus.DELETING}
    ),
    ProcessingStatus.PROCESSING: frozenset(
        {
            ProcessingStatus.PROCESSING,
            ProcessingStatus.COMPLETED,
            ProcessingStatus.FAILED,
            ProcessingStatus.DELETING,
        }
    ),
    ProcessingStatus.FAILED: frozenset(
        {ProcessingStatus.PROCESSING, ProcessingStatus.QUEUED, ProcessingStatus.DELETING}
    ),
    ProcessingStatus.COMPLETED: frozenset({ProcessingStatus.QUEUED, ProcessingStatus.DELETING}),
    ProcessingStatus.DELETING: frozenset({ProcessingStatus.DELETING, ProcessingStatus.DELETED}),
    ProcessingStatus.DELETED: frozenset(),
}


def sources_of(target: ProcessingStatus) -> list[ProcessingStatus]:
    """Every status from which `target` may be entered: the condition of a conditional update."""
    return [source for source, targets in ALLOWED_TRANSITIONS.items() if target in targets]


class SourceType(StrEnum):
    IMMICH = "immich"
    UPLOAD = "upload"
