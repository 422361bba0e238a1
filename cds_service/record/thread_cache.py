"""Threads for FHIR queries, kept between hook calls: an idle one is reused, a new one starts only when all are busy.

A fresh ThreadPoolExecutor per call started up to 16 threads, and each start waits until the new thread runs; with
the threads already sending their queries, that was ~25 ms of every fetch-mode call (benchmarks/fetch.py). A fixed
shared pool would instead queue one EHR's queries behind another's stalled ones, so this cache never queues: a task
that finds no idle thread gets a new one, and a thread idle for ``IDLE_SECONDS`` ends.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
IDLE_SECONDS = 60.0

_Task = tuple[Future[Any], Callable[[], Any]]


class ThreadCache:
    """Runs each submitted function on an idle cached thread or, when none is idle, on a new one."""

    def __init__(self, name: str, idle_seconds: float = IDLE_SECONDS) -> None:
        self._name = name
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Task]] = []
        self._started = 0

    def submit(self, function: Callable[[], T]) -> Future[T]:
        """A future of ``function()``, already running (never waiting behind other tasks)."""
        future: Future[T] = Future()
        task: _Task = (future, function)
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self._started += 1
                number = self._started
        if inbox is not None:
            inbox.put(task)
        else:
            inbox = queue.SimpleQueue()
            inbox.put(task)
            threading.Thread(target=self._serve, args=(inbox,), name=f"{self._name}-{number}", daemon=True).start()
        return future

    def idle(self) -> int:
        """How many threads wait for work."""
        with self._lock:
            return len(self._idle)

    def _serve(self, inbox: queue.SimpleQueue[_Task]) -> None:
        while True:
            try:
                future, function = inbox.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:
                        self._idle.remove(inbox)
                        return
                continue  # a task was handed over while the wait ran out: it is in the inbox now
            if future.set_running_or_notify_cancel():
                try:
                    result = function()
                except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, function  # hold nothing of a finished call while idle
            with self._lock:
                self._idle.append(inbox)


_shared: ThreadCache | None = None
_shared_lock = threading.Lock()


def shared_threads() -> ThreadCache:
    """This process's cache of FHIR query threads (a forked worker starts with its own, empty one)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ThreadCache("fhir")
        return _shared


def _forget_after_fork() -> None:
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()  # the parent's threads do not exist in the child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
