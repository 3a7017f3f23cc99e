"""A small HTTP server for the labeling page: the page, the crops to show, their pictures, labels.

It answers only its own page on the address it printed (models/label/guard.py says why and how) and
shows only pictures it drew itself from what the crops.jsonl names (models/label/images.py).
"""
from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Callable, Sequence
from urllib.parse import parse_qs, urlparse

from models.label.guard import MAX_BODY, Guard, new_nonce, new_token, security_headers
from models.label.images import VIEWS, CropImages, say_on_stderr
from models.label.store import Filter, LabelError, LabelStore

MAX_PAGE = 200


class BadRequest(ValueError):
    """A request this server cannot read; the message says what was wrong, in one line."""


def _page(token: str, nonce: str) -> bytes:
    html = resources.files("models.label").joinpath("page.html").read_text(encoding="utf-8")
    return html.replace("__TOKEN__", token).replace("__NONCE__", nonce).encode("utf-8")


def _filter(query: dict[str, str]) -> Filter:
    def score(name: str) -> float | None:
        return float(query[name]) if query.get(name, "") != "" else None
    return Filter(unlabeled=query.get("unlabeled") == "1", predicted=query.get("predicted") or None,
                  min_score=score("min"), max_score=score("max"))


def _positions(text: str) -> list[int]:
    positions = [int(p) for p in text.split(",") if p != ""]
    if len(positions) > MAX_PAGE:
        raise BadRequest(f"at most {MAX_PAGE} crops at a time")
    return positions


class _Handler(BaseHTTPRequestHandler):
    # set on the subclass made by make_server
    store: LabelStore
    guard: Guard
    images: CropImages

    def log_message(self, format: str, *args) -> None:  # one line per image request is noise
        pass

    _nonce: str | None = None  # the page's script nonce, for the one response that is the page

    def end_headers(self) -> None:
        # here, so that every response has them, the error pages http.server writes itself included
        for name, value in security_headers(self._nonce).items():
            self.send_header(name, value)
        super().end_headers()

    def _send(self, body: bytes, content_type: str, status: int = HTTPStatus.OK, cache: bool = False,
              nonce: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
        self._nonce = nonce
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value, status: int = HTTPStatus.OK) -> None:
        self._send(json.dumps(value).encode(), "application/json", status)

    def _refused(self, method: str, path: str, api: bool) -> bool:
        """Answer 403 and return True if the request may not go on."""
        why = self.guard.refuse_source(self.headers, path) or (api and self.guard.refuse_api(self.headers, method))
        if why:
            self.close_connection = True  # a refused body may not have been read
            self._json({"error": why}, HTTPStatus.FORBIDDEN)
        return bool(why)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if self._refused("GET", url.path, api=url.path.startswith("/api/")):
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/":
                nonce = new_nonce()
                self._send(_page(self.guard.token, nonce), "text/html; charset=utf-8", nonce=nonce)
            elif url.path == "/api/state":
                self._json(self.store.counts())
            elif url.path == "/api/select":
                self._json({"positions": self.store.select(_filter(query)), **self.store.counts()})
            elif url.path == "/api/crops":
                positions = _positions(query.get("positions", ""))
                crops = self.store.crops(positions)
                for crop in crops:
                    crop["photo"] = self.images.photo_allowed(self.store.record(crop["position"]))
                self._json({"crops": crops, **self.store.counts()})
            elif url.path.startswith("/crop/"):
                self._picture(int(url.path.removeprefix("/crop/").split(".")[0]), query.get("view", "crop"))
            else:
                self._json({"error": f"no such path {url.path}"}, HTTPStatus.NOT_FOUND)
        except (BadRequest, ValueError, IndexError) as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)

    def _picture(self, position: int, view: str) -> None:
        if view not in VIEWS:
            raise BadRequest(f"unknown view {view!r}; expected one of {VIEWS}")
        record = self.store.record(position)
        self._send(self.images.picture(position, record, view), "image/jpeg", cache=True)

    def _body(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            raise BadRequest("a Content-Length header with the body's size is needed") from None
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the body is left unread
            raise BadRequest(f"a body of {length} bytes is over the {MAX_BODY}-byte limit")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"the body is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        if self._refused("POST", path, api=True):
            return
        try:
            body = self._body()
            if path == "/api/label":
                self._json(self.store.label(_field(body, "position", int), _field(body, "label", str)))
            elif path == "/api/bulk":
                positions = _field(body, "positions", list)
                if len(positions) > MAX_PAGE:
                    raise BadRequest(f"at most {MAX_PAGE} crops at a time")
                self._json(self.store.label_many(positions, _field(body, "label", str)))
            elif path == "/api/products":
                self._json(self.store.add_product(_field(body, "name", str)))
            elif path == "/api/undo":
                positions, counts = self.store.undo()
                self._json({"positions": positions, **counts})
            else:
                self._json({"error": f"no such path {path}"}, HTTPStatus.NOT_FOUND)
        except (BadRequest, LabelError) as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)


def _field(body: dict, name: str, kind: type):
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"the body needs {name!r} as a JSON {kind.__name__}")
    return value


def make_server(store: LabelStore, host: str = "127.0.0.1", port: int = 0, allow: Sequence[str] = (),
                say: Callable[[str], None] = say_on_stderr) -> ThreadingHTTPServer:
    """A server for `store` bound to host:port (0: any free port); call serve_forever() to run it.

    allow: folders or gs:// prefixes besides the list's own folder whose images may be shown (the source
    photos, for the shelf around each crop); say: hears one line per picture that cannot be shown.
    Raises OSError when the port cannot be bound. The server's `url` is the only address it answers on,
    and its `token` is what its page sends with every API call."""
    handler = type("Handler", (_Handler,), {"store": store, "images": CropImages(store.base, allow, say)})
    server = ThreadingHTTPServer((host, port), handler)
    address = f"{host}:{server.server_address[1]}"
    handler.guard = Guard(address, new_token())
    server.url, server.token, server.images = f"http://{address}/", handler.guard.token, handler.images
    return server


def serve_in_background(store: LabelStore, port: int = 0, allow: Sequence[str] = (),
                        say: Callable[[str], None] = say_on_stderr) -> tuple[ThreadingHTTPServer, str]:
    """Start a server on a thread (tests, notebooks); returns it and its URL. Stop with .shutdown()."""
    server = make_server(store, port=port, allow=allow, say=say)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.url
