"""Worker processes that never outlive the process that started them, and SIGTERM as an exception.

`worker_pool(jobs)` is a `ProcessPoolExecutor` ("spawn") whose workers die with their parent however it ends:

- parent killed (SIGKILL, SIGTERM without a handler, a crash): every worker asks the kernel for SIGKILL when its
  parent thread dies (Linux `prctl(PR_SET_PDEATHSIG)`), and a watchdog thread in each worker also exits it when the
  original parent's process ends (this covers the "forkserver" start method, whose workers are children of the
  fork server, and systems without prctl). Once the workers are gone, multiprocessing's resource tracker sees its
  pipe close and exits too;
- an exception, Ctrl-C or `Terminated` leaves the `with` block: pending work is cancelled and workers still
  running are killed at once; a normal exit waits for submitted work as `shutdown(wait=True)` does.

Workers ignore SIGINT: Ctrl-C reaches the parent, which stops them. The kernel ties the parent-death signal to the
thread that starts a worker, and the pool starts workers on `submit` / `map`: call them from a thread that lives as
long as the pool (the thread that entered it).

`sigterm_raises()` turns SIGTERM in the main thread into `Terminated` while its block runs, so `finally` blocks and
`worker_pool`'s cleanup run as they do for Ctrl-C.
"""

import ctypes
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1
WATCH_POLL_S = 0.5


class Terminated(BaseException):
    """SIGTERM arrived while `sigterm_raises()` was active (a BaseException, like KeyboardInterrupt, so that
    `except Exception` blocks do not swallow it)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated in the main thread; the previous handler returns afterwards
    (outside the main thread, where Python cannot handle signals, the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _set_parent_death_signal() -> None:
    """Ask Linux to SIGKILL this process when its parent thread dies (nothing elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch(parent: int) -> None:
    """Exit this process as soon as process `parent` ends (a pidfd where the kernel has them, else polling)."""
    try:
        descriptor = os.pidfd_open(parent)
    except (AttributeError, OSError):
        while os.getppid() == parent:
            time.sleep(WATCH_POLL_S)
    else:
        select.select([descriptor], [], [])
    os._exit(1)


def _bind_to_parent(parent: int, initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    """Worker initializer: die with `parent`, leave Ctrl-C to it, then run the caller's initializer."""
    _set_parent_death_signal()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="avnb-parent-watch", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _kill(workers: dict[int, multiprocessing.process.BaseProcess]) -> None:
    """SIGKILL the worker processes still alive, and reap them."""
    for process in list(workers.values()):
        if process.is_alive():
            process.kill()
    for process in list(workers.values()):
        process.join()


@contextmanager
def worker_pool(
    jobs: int, initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of `jobs` "spawn" workers that die with this process; leaving the block by an
    exception (Ctrl-C, Terminated included) cancels pending work and kills running workers (see the module doc)."""
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_bind_to_parent,
        initargs=(os.getpid(), initializer, initargs),
    )
    workers = pool._processes  # the pool fills this dict as it starts workers; shutdown() lets go of it
    try:
        yield pool
        pool.shutdown(wait=True)
    except BaseException:
        manager = pool._executor_manager_thread  # shutdown() lets go of it too
        pool.shutdown(wait=False, cancel_futures=True)
        _kill(workers)
        if manager is not None:
            # Let it notice the dead workers and close its wakeup pipe before the interpreter's exit hook writes to
            # that pipe (Python 3.11 races the two: "OSError: Bad file descriptor" printed at exit).
            manager.join(timeout=10)
        raise
