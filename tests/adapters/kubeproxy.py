"""An HTTP proxy in front of the Kubernetes simulator for tests that change what passes:
subclass `ForwardingProxy`, override `intercept` to answer a request itself (or act before it
is forwarded), and serve it with `ThreadingHTTPServer`."""

from __future__ import annotations

import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any


class ForwardingProxy(BaseHTTPRequestHandler):
    """Forwards every request to `upstream` and relays the answer as JSON."""

    protocol_version = "HTTP/1.1"
    upstream = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def intercept(self) -> tuple[int, bytes] | None:
        """(status, body) to answer instead of forwarding; None forwards."""
        return None

    def _forward(self) -> None:
        answer = self.intercept()
        if answer is None:
            length = int(self.headers.get("Content-Length") or 0)
            request = urllib.request.Request(
                self.upstream + self.path, method=self.command,
                data=self.rfile.read(length) if length else None,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = response.status, response.read()
            except urllib.error.HTTPError as error:
                answer = error.code, error.read()
        status, body = answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward
