"""Running one piece of code from several threads at once, for the races tests stage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from immichvr_depth.platform import aws


def run_concurrently(work: Callable[[], None], times: int) -> list[BaseException]:
    """Run `work` in `times` threads started together; returns what each raised (nothing: [])."""
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            work()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def atomic_conditional_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's conditional PUT (If-None-Match: *) atomic, as S3's is: moto checks for the key and
    then writes it without a lock, so two threads can both create it, which S3 never allows."""
    client = aws.s3()
    put_object = client.put_object
    lock = threading.Lock()

    def put(**kwargs: Any) -> Any:
        if "IfNoneMatch" not in kwargs:
            return put_object(**kwargs)
        with lock:
            return put_object(**kwargs)

    monkeypatch.setattr(client, "put_object", put)
