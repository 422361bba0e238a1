"""FHIR query threads outlive a call, and a stalled query never holds up another call's queries."""

from __future__ import annotations

import threading
import time

from cds_service.record.thread_cache import ThreadCache


def test_a_second_round_of_queries_reuses_the_threads_of_the_first() -> None:
    cache = ThreadCache("test")
    first = [cache.submit(threading.get_ident) for _ in range(4)]
    first_threads = {f.result(timeout=5) for f in first}
    deadline = time.monotonic() + 5
    while cache.idle() < len(first_threads) and time.monotonic() < deadline:
        time.sleep(0.001)
    second = {cache.submit(threading.get_ident).result(timeout=5) for _ in range(len(first_threads))}
    assert second <= first_threads


def test_a_stalled_task_does_not_delay_the_next_one_and_errors_reach_the_caller() -> None:
    cache = ThreadCache("test")
    release = threading.Event()
    stalled = cache.submit(lambda: release.wait(10))
    started = time.monotonic()
    assert cache.submit(lambda: "answer").result(timeout=5) == "answer"
    assert time.monotonic() - started < 1
    assert not stalled.done()

    def broken() -> None:
        raise ConnectionError("refused")

    assert isinstance(cache.submit(broken).exception(timeout=5), ConnectionError)
    release.set()
    assert stalled.result(timeout=5) is True


def test_an_idle_thread_ends_and_a_new_one_takes_the_next_task() -> None:
    cache = ThreadCache("test", idle_seconds=0.05)
    assert cache.submit(lambda: 1).result(timeout=5) == 1
    deadline = time.monotonic() + 5
    while cache.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.idle() == 0
    assert cache.submit(lambda: 2).result(timeout=5) == 2
