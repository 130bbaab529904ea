"""A throwaway HTTP(S) server on loopback for the API client's unit tests."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler],
            tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve ``handler`` on a free loopback port (TLS with ``tls``) in a thread; yields the
    port, and stops the server afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
