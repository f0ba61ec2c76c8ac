"""Running one piece of code from several threads at once, for the races tests stage."""

from __future__ import annotations

import threading
from collections.abc import Callable


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
