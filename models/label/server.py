"""A small HTTP server for the labeling page: the page, one page of crops at a time, images, labels."""
from __future__ import annotations

import json
import mimetypes
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from models.label.store import LabelError, LabelStore

MAX_PAGE = 200


def _page() -> bytes:
    return resources.files("models.label").joinpath("page.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    store: LabelStore  # set on the subclass made by make_server

    def log_message(self, format: str, *args) -> None:  # one line per image request is noise
        pass

    def _send(self, body: bytes, content_type: str, status: int = HTTPStatus.OK, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value, status: int = HTTPStatus.OK) -> None:
        self._send(json.dumps(value).encode(), "application/json", status)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/":
                self._send(_page(), "text/html; charset=utf-8")
            elif url.path == "/api/state":
                self._json(self.store.counts())
            elif url.path == "/api/crops":
                limit = min(int(query.get("limit", 60)), MAX_PAGE)
                self._json({"crops": self.store.page(int(query.get("offset", 0)), limit),
                            **self.store.counts()})
            elif url.path.startswith("/crop/"):
                self._image(int(url.path.removeprefix("/crop/").split(".")[0]))
            else:
                self._json({"error": f"no such path {url.path}"}, HTTPStatus.NOT_FOUND)
        except (ValueError, IndexError) as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)

    def _image(self, position: int) -> None:
        from apache_beam.io.filesystems import FileSystems

        uri = self.store.image_uri(position)
        try:
            with FileSystems.open(uri, compression_type="uncompressed") as f:
                data = f.read()
        except (OSError, IOError) as e:
            self._json({"error": f"{uri}: {e}"}, HTTPStatus.NOT_FOUND)
            return
        self._send(data, mimetypes.guess_type(uri)[0] or "application/octet-stream", cache=True)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/api/label":
                self._json(self.store.label(int(body["position"]), str(body["label"])))
            elif self.path == "/api/undo":
                position, counts = self.store.undo()
                self._json({"position": position, **counts})
            else:
                self._json({"error": f"no such path {self.path}"}, HTTPStatus.NOT_FOUND)
        except (LabelError, KeyError, ValueError) as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)


def make_server(store: LabelStore, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for `store` bound to host:port (0: any free port); call serve_forever() to run it."""
    handler = type("Handler", (_Handler,), {"store": store})
    return ThreadingHTTPServer((host, port), handler)


def serve_in_background(store: LabelStore, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start a server on a thread (tests, notebooks); returns it and its URL. Stop with .shutdown()."""
    server = make_server(store, port=port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"
