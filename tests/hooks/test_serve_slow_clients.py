"""`iop-cds serve` as a real process: clients too slow to send their request cannot starve the others."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import requests
from test_serve_logs import serve, stop

from cds_service.hooks.gunicorn_worker import HEADER_SECONDS


def test_slow_header_connections_do_not_starve_healthz(tmp_path: Path) -> None:
    process, base = serve(tmp_path, IOP_CDS_THREADS="2")  # one worker, two threads: easy to starve
    port = int(base.rsplit(":", 1)[1])
    stop_trickle = threading.Event()
    slow: list[socket.socket] = []
    silent: list[socket.socket] = []
    try:
        for _ in range(10):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(b"POST /cds-services/iop-order-sign HTTP/1.1\r\nHost: x\r\n")
            slow.append(connection)
        silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(10)]

        def trickle() -> None:  # one more header byte a second, for ever
            while not stop_trickle.wait(1.0):
                for connection in slow:
                    try:
                        connection.sendall(b"X")
                    except OSError:
                        pass

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1.0)
        started = time.monotonic()
        assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
        assert time.monotonic() - started < HEADER_SECONDS + 3.0
        time.sleep(HEADER_SECONDS)
        closed = 0
        for connection in slow:  # past the header deadline the server has hung up on every trickler
            connection.settimeout(5)
            try:
                closed += connection.recv(1024) == b""
            except OSError:
                closed += 1
        assert closed == len(slow)
        started = time.monotonic()
        assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
        assert time.monotonic() - started < 1.0
    finally:
        stop_trickle.set()
        for connection in slow + silent:
            connection.close()
        stop(process)
