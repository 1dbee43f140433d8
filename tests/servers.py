"""A real HTTP server on localhost for the URL tests: one that answers, or one that stalls."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def http_server(body: bytes, *, stall: str | None = None) -> Iterator[str]:
    """Serve ``body`` at the URL this yields, on a real socket. ``stall``: ``"before-headers"`` reads
    each request and never answers; ``"mid-body"`` sends the headers and four bytes, then nothing.
    Connections are held open (never closed early) until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    done = threading.Event()

    def answer(connection: socket.socket) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: image/png\r\n\r\n".encode()
        with contextlib.suppress(OSError):
            while request := connection.recv(65536):      # one request per packet: enough for a client's GET and HEAD
                if stall == "before-headers":
                    continue
                if request.startswith(b"HEAD"):
                    connection.sendall(head)
                else:
                    connection.sendall(head + (body[:4] if stall == "mid-body" else body))

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/suspect.png"
    finally:
        done.set()
        listener.close()
        for connection in held:
            connection.close()
