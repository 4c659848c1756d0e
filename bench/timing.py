"""What the bench scripts share: the median time of repeated calls after an untimed one, and the load average
(the machine may be shared, so each script prints it before and after)."""

import os
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def median_seconds(work: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Median wall seconds of `repeats` timed calls of `work`, after one untimed call, whose result is returned."""
    result = work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
