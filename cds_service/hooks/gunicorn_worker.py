"""gunicorn's threaded worker with deadlines on reading a request, so slow clients cannot hold its threads.

gthread hands a connection to a thread as soon as its first bytes arrive, and the thread then blocks until the
request headers are complete: ten connections that send a header byte a second hold every thread of a worker,
and ``/healthz`` waits behind them. This worker collects a connection's header bytes without blocking (what has
arrived is read, and the connection goes back to gthread's poller until more comes), hands it to the parser
only once the headers are complete, and closes it when they are not complete ``HEADER_SECONDS`` after its
first byte. Past the headers, ``REQUEST_SECONDS`` bounds the rest (body upload, FHIR budget, evaluation): the
socket is then shut down, which ends a blocked read and frees the thread. A buffering proxy in front
(deploy/nginx.conf) still holds slow clients more cheaply; these deadlines keep the service safe without one.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from gunicorn.workers import gthread

HEADER_SECONDS = 5.0
"""Time from a connection's first bytes to the end of its request headers."""
REQUEST_SECONDS = 15.0
"""Time from the end of the headers to the end of the answer (body upload, FHIR budget, evaluation)."""
MAX_HEAD_BYTES = 64 * 1024
"""Header bytes collected before the parser takes over anyway (it enforces gunicorn's own header limits)."""
REAP_INTERVAL_SECONDS = 0.25


class DeadlineThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """``gthread`` whose threads are released from clients that are too slow to send their request."""

    def init_process(self) -> None:
        """Start the reaper thread, then run gthread's loop (which never returns)."""
        self._deadlines: dict[int, tuple[float, Any]] = {}
        self._deadlines_lock = threading.Lock()
        threading.Thread(target=self._reap, name="request-deadlines", daemon=True).start()
        super().init_process()

    def handle(self, conn: Any) -> Any:
        """Handle one request of ``conn`` once its headers are in; until then, wait in the poller, not a thread."""
        defer = getattr(gthread, "_DEFER", None)
        if defer is not None and not self.cfg.is_ssl and not getattr(self.cfg, "http2_prior_knowledge", False):
            state = self._collect_head(conn)
            if state == "wait":
                return defer
            if state == "late":
                self.log.warning("Closing a connection too slow to send its request headers (%s)", conn.client)
                # Shut both ways first: gunicorn's graceful close would otherwise linger up to 2 s on its main
                # thread draining a client that keeps trickling.
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
                return False
        self._arm(conn, HEADER_SECONDS)
        try:
            return super().handle(conn)
        finally:
            with self._deadlines_lock:
                self._deadlines.pop(id(conn), None)

    def _collect_head(self, conn: Any) -> str:
        """Read what the client has sent so far: 'ready' (headers complete), 'wait' (more to come) or 'late'."""
        parser = getattr(conn, "parser", None)
        if parser is not None and parser.unreader.buf.getbuffer().nbytes:
            return "ready"  # read-ahead of a keep-alive connection: the parser has bytes to work on already
        head: bytearray = conn.__dict__.setdefault("iop_head", bytearray())
        closed = False
        try:
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD_BYTES:
                chunk = conn.sock.recv(65536, socket.MSG_DONTWAIT)
                if not chunk:
                    closed = True
                    break
                head += chunk
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            closed = True
        if not head and not closed:
            conn.data_ready = False
            return "wait"
        if closed or b"\r\n\r\n" in head or len(head) >= MAX_HEAD_BYTES:
            conn.init()
            conn.parser.unreader.unread(bytes(head))
            del conn.__dict__["iop_head"]
            conn.__dict__.pop("iop_first_byte", None)
            return "ready"
        first = conn.__dict__.setdefault("iop_first_byte", time.monotonic())
        if time.monotonic() - first > HEADER_SECONDS:
            return "late"
        conn.data_ready = False
        return "wait"

    def handle_request(self, req: Any, conn: Any) -> Any:
        """The headers are in: the rest of the request gets the longer deadline."""
        self._arm(conn, REQUEST_SECONDS)
        return super().handle_request(req, conn)

    def _arm(self, conn: Any, seconds: float) -> None:
        with self._deadlines_lock:
            self._deadlines[id(conn)] = (time.monotonic() + seconds, conn)

    def _reap(self) -> None:
        """Shut down the socket of every connection past its deadline (its blocked read then ends)."""
        while True:
            time.sleep(REAP_INTERVAL_SECONDS)
            now = time.monotonic()
            with self._deadlines_lock:
                late = [key for key, (deadline, _conn) in self._deadlines.items() if deadline <= now]
                expired = [self._deadlines.pop(key)[1] for key in late]
            for conn in expired:
                self.log.warning("Closing a connection too slow to send its request (%s)", conn.client)
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
