"""A small HTTP reverse proxy on 127.0.0.1 in front of a store, for tests and benchmarks: it counts every
request that passes (by method and object key), from every process that uses it, and can hold each
one for a fixed delay (the round trip of a store far away).

Requests are forwarded as they came, Host header included, so a signed request (AWS SigV4 signs the
host the client named) is still valid when it reaches the store. One upstream connection per request:
simple, and each request is counted once however the client pools its connections.

    with Proxy("http://127.0.0.1:8333", delay_s=0.02) as proxy:
        ... endpoint_url=proxy.url ...
        proxy.count("GET", under="/bucket/prefix/images/")
"""

from __future__ import annotations

import http.client
import http.server
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# hop-by-hop headers (RFC 9110 7.6.1): about one connection, never forwarded; nor Expect, which this
# proxy has answered already (AWS SigV4 never signs it)
_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect"}


@dataclass(frozen=True)
class Request:
    """One request that passed: its method, the object key it named (the URL's path, decoded, the bucket
    first in path-style addressing) and its query (``list-type=2&prefix=...`` for a listing)."""

    method: str
    key: str
    query: str


class Proxy:
    """A threaded reverse proxy to ``upstream`` (``http://host:port``), listening on 127.0.0.1 at a
    port of its own (``url``); a context manager that starts and stops it."""

    def __init__(self, upstream: str, delay_s: float = 0.0):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"{upstream}: expected http://host:port")
        self.upstream = (parts.hostname, parts.port)
        self.delay_s = delay_s
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def note(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def seen(self, method: str | None = None, under: str = "") -> list[Request]:
        """The requests of this method (any, when None) whose key starts with ``under``, in order."""
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method) and r.key.startswith(under)]

    def count(self, method: str | None = None, under: str = "") -> int:
        return len(self.seen(method, under))

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


def _handler(proxy: Proxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Forward(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return None  # quiet: the requests are counted, not printed

        def _forward(self) -> None:
            path, _, query = self.path.partition("?")
            proxy.note(Request(self.command, unquote(path), query))
            body = self._body()
            if proxy.delay_s:
                time.sleep(proxy.delay_s)
            headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP}
            if body is not None:
                headers["Content-Length"] = str(len(body))
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
            except OSError:
                self.send_error(502, "the store behind the proxy did not answer")
                return
            finally:
                upstream.close()
            self.send_response_only(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in _HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = answer.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _body(self) -> bytes | None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._chunked()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length or self.command in ("PUT", "POST") else None

        def _chunked(self) -> bytes:
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers: none that S3 clients send over plain HTTP
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Forward
