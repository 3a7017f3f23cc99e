"""The labeling server answers only its own page, and shows only pictures it drew from allowed files.

Attacks as issue 17 reproduced them, made with plain HTTP (any Host, any header, any body); the
cross-origin page in a real browser is in test_page.py.
"""
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.label.server import serve_in_background
from models.label.store import LabelStore
from tests.models.label.client import call, page_token, post
from tests.models.label.test_products import HOSTILE_NAMES
from tests.models.label.test_store import write_crops


@pytest.fixture
def served(tmp_path):
    """A server over 3 crops; yields (url, crops.jsonl path, lines it said on the terminal)."""
    path = write_crops(tmp_path, [0.5, 0.9, 0.1])
    said: list[str] = []
    server, url = serve_in_background(LabelStore(str(path)), say=said.append)
    yield url, path, said
    server.shutdown()
    server.server_close()


def labels(path) -> list[str]:
    return [json.loads(line)["label"] for line in path.read_text().splitlines()]


def test_every_response_carries_the_security_headers(served):
    url, _, _ = served
    token = page_token(url)
    status, headers, html = call(url, "GET", "/")
    nonce = headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">'.encode() in html and token.encode() in html
    assert page_token(url) == token  # one token per server, a fresh nonce per page
    assert nonce not in call(url, "GET", "/")[1]["Content-Security-Policy"]
    answers = [call(url, "GET", "/api/state", headers={"X-Shelfscan-Token": token}), call(url, "GET", "/crop/0.jpg"),
               call(url, "GET", "/nothing"), call(url, "GET", "/api/state"), call(url, "PUT", "/api/label"),
               call(url, "GET", "/", headers={"Host": "evil.example"})]
    assert [a[0] for a in answers] == [200, 200, 404, 403, 501, 403]
    for _, answer_headers, _ in [(status, headers, html), *answers]:
        assert answer_headers["X-Content-Type-Options"] == "nosniff"
        assert answer_headers["Referrer-Policy"] == "no-referrer"
        csp = answer_headers["Content-Security-Policy"]
        for rule in ("default-src 'none'", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'",
                     "base-uri 'none'", "form-action 'none'"):
            assert rule in csp
        assert "unsafe-inline" not in csp


def test_a_foreign_host_gets_403_whatever_it_asks(served):
    url, path, _ = served
    token = page_token(url)
    port = url.rsplit(":", 1)[1].strip("/")
    for host in ("evil.example", f"evil.example:{port}", f"localhost:{port}", f"127.0.0.1:{int(port) + 1}", ""):
        for method, target, body in (("GET", "/", None), ("GET", "/crop/0.jpg", None), ("GET", "/api/state", None),
                                     ("POST", "/api/label", b'{"position": 0, "label": "skip"}')):
            status, headers, answer = call(url, method, target, body, {
                "Host": host, "X-Shelfscan-Token": token, "Content-Type": "application/json"})
            assert status == 403 and headers["Content-Type"] == "application/json", (host, target)
            assert "Host" in json.loads(answer)["error"] and b"\n" not in answer
    assert labels(path) == ["", "", ""]


def test_a_label_needs_the_token_json_and_this_origin(served):
    url, path, _ = served
    token = page_token(url)
    label = b'{"position": 0, "label": "skip"}'
    refused = [
        {"Content-Type": "text/plain"},  # what a no-cors fetch from any page sends
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "X-Shelfscan-Token": token[:-1] + "x"},
        {"Content-Type": "text/plain", "X-Shelfscan-Token": token},
        {"Content-Type": "application/x-www-form-urlencoded", "X-Shelfscan-Token": token},
        {"Content-Type": "application/json", "X-Shelfscan-Token": token, "Origin": "http://evil.example"},
        {"Content-Type": "application/json", "X-Shelfscan-Token": token, "Origin": "null"},
        {"Content-Type": "application/json", "X-Shelfscan-Token": token, "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in refused:
        for target in ("/api/label", "/api/undo", "/api/products"):
            status, _, answer = call(url, "POST", target, label, headers)
            assert status == 403 and json.loads(answer)["error"], headers
    assert labels(path) == ["", "", ""] and not (path.parent / "crops.products.json").exists()
    assert call(url, "GET", "/api/crops?offset=0&limit=3")[0] == 403  # reading the list needs it too
    status, counts = post(url, "/api/label", {"position": 0, "label": "skip"}, token, Origin=url.rstrip("/"))
    assert status == 200 and counts["labels"]["skip"] == 1
    assert labels(path) == ["skip", "", ""]  # position 0 is the least certain crop, the file's first


def test_malformed_bodies_get_400_and_the_server_keeps_serving(served):
    url, path, _ = served
    token = page_token(url)
    headers = {"Content-Type": "application/json", "X-Shelfscan-Token": token}
    for body, extra in ((b"[]", {}), (b"not json", {}), (b"\xff\xfe", {}), (b"{}", {}),
                        (b'{"position": "0", "label": "skip"}', {}), (b'{"position": 0}', {}),
                        (b'{"position": true, "label": "skip"}', {}), (b'{"position": 9, "label": "skip"}', {}),
                        (b'{"position": 0, "label": "maybe"}', {}), (b"{}", {"Content-Length": "nine"}),
                        (b"{}", {"Content-Length": str(10 ** 12)}), (b"{}", {"Content-Length": "-5"})):
        status, answer_headers, answer = call(url, "POST", "/api/label", body, {**headers, **extra})
        assert status == 400 and answer_headers["Content-Type"] == "application/json", body
        error = json.loads(answer)["error"]
        assert error and "\n" not in error
    assert labels(path) == ["", "", ""]
    status, counts = post(url, "/api/label", {"position": 1, "label": "other"}, token)
    assert status == 200 and counts["labeled"] == 1


def test_hostile_product_names_get_400_and_change_nothing(served):
    url, path, _ = served
    token = page_token(url)
    headers = {"Content-Type": "application/json", "X-Shelfscan-Token": token}
    bodies = [json.dumps({"name": name}).encode() for name in HOSTILE_NAMES]
    bodies += [b'{"name": 5}', b'{"name": null}', b'{"name": ["rose"]}', b"{}", b'{"name": "' + b"x" * 70000 + b'"}']
    for body in bodies:
        status, answer_headers, answer = call(url, "POST", "/api/products", body, headers)
        assert status == 400 and answer_headers["Content-Type"] == "application/json", body[:80]
        error = json.loads(answer)["error"]
        assert error and "\n" not in error and len(error) < 300, error  # one line; the page shows it as text
    status, counts = post(url, "/api/label", {"position": 0, "label": "<img src=x onerror=alert(1)>"}, token)
    assert status == 400 and "unknown label" in counts["error"]
    assert not (path.parent / "crops.products.json").exists() and labels(path) == ["", "", ""]
    status, counts = post(url, "/api/products", {"name": "micellar_rose"}, token)
    assert status == 200 and counts["products"] == ["target", "micellar_rose"]
    assert post(url, "/api/products", {"name": "micellar_rose"}, token)[0] == 400  # already there
    status, counts = post(url, "/api/label", {"position": 2, "label": "micellar_rose"}, token)
    assert status == 200 and counts["labels"]["micellar_rose"] == 1


def _untrusted_list(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A shared crops.jsonl naming files outside its folder, a symlink out, an .html page and a PNG named
    .html; returns its path and the bytes no response may contain, by row."""
    folder = tmp_path / "shared"
    (folder / "crops").mkdir(parents=True)
    secret = tmp_path / "secret.txt"  # outside the list's folder: ../ and a symlink lead here
    secret.write_bytes(b"SECRET-7f3a9c outside the labeling folder\n")
    (folder / "crops" / "link.jpg").symlink_to(secret)
    (folder / "crops" / "page.html").write_bytes(b"<script>fetch('/api/label')</script>PAGE-5e1d")
    Image.fromarray(np.full((30, 20, 3), (200, 40, 40), np.uint8)).save(folder / "crops" / "real.html", "PNG")
    rows = {"../../../../../../../etc/passwd": Path("/etc/passwd").read_bytes()[:12],
            "/etc/hostname": Path("/etc/hostname").read_bytes().strip() or b"\0never",
            "file:///etc/passwd": Path("/etc/passwd").read_bytes()[:12],
            "../secret.txt": b"SECRET-7f3a9c", "crops/link.jpg": b"SECRET-7f3a9c",
            "crops/page.html": b"PAGE-5e1d", "crops/real.html": b"\x89PNG"}
    (folder / "crops.jsonl").write_text("".join(json.dumps({"uri": uri, "label": ""}) + "\n" for uri in rows))
    return folder / "crops.jsonl", rows


def test_untrusted_names_are_never_served_only_placeholders(tmp_path):
    path, rows = _untrusted_list(tmp_path)
    said: list[str] = []
    store = LabelStore(str(path))
    server, url = serve_in_background(store, say=said.append)
    try:
        token = page_token(url)
        for _ in range(2):  # asked twice, said once
            answers = [call(url, "GET", f"/crop/{p}.jpg") for p in range(len(rows))]
        answers.append(call(url, "GET", "/api/crops?offset=0&limit=20", headers={"X-Shelfscan-Token": token}))
    finally:
        server.shutdown()
        server.server_close()
    for status, headers, body in answers[:-1]:
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    for _, _, body in answers:
        for forbidden in rows.values():
            assert forbidden not in body
    uris = [store.record(p)["uri"] for p in range(len(rows))]
    served_png = answers[uris.index("crops/real.html")][2]
    with Image.open(io.BytesIO(served_png)) as image:  # decoded and re-encoded: a JPEG of it
        assert image.format == "JPEG" and image.size == (20, 30)
    refused = [u for u in uris if u != "crops/real.html"]
    for uri in refused:
        assert sorted(p for p, line in enumerate(said) if repr(uri) in line) == [refused.index(uri)], uri
    assert len(said) == len(refused)
    assert all("\n" not in line for line in said)
    assert "outside the allowed folders" in said[refused.index("../secret.txt")]
    assert "not an image" in said[refused.index("crops/page.html")]


def test_allow_lets_a_named_folder_in_and_nothing_else(tmp_path):
    path, _ = _untrusted_list(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((50, 40, 3), 90, np.uint8)).save(photos / "p.jpg")
    (path.parent / "crops.jsonl").write_text(json.dumps({"uri": str(photos / "p.jpg"), "label": ""}) + "\n" +
                                             json.dumps({"uri": "../photos/../secret.txt", "label": ""}) + "\n")
    said: list[str] = []
    server, url = serve_in_background(LabelStore(str(path)), allow=[str(photos)], say=said.append)
    try:
        photo, secret = call(url, "GET", "/crop/0.jpg")[2], call(url, "GET", "/crop/1.jpg")[2]
    finally:
        server.shutdown()
        server.server_close()
    with Image.open(io.BytesIO(photo)) as image:
        assert image.size == (40, 50)
    assert b"SECRET" not in secret and len(said) == 1 and "../photos/../secret.txt" in said[0]


@pytest.mark.slow  # starts a process or builds many scenes
def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    path = write_crops(tmp_path, [0.5])
    repo = Path(__file__).resolve().parents[3]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = subprocess.run([sys.executable, "-m", "models.label", str(path), "--port", str(busy.getsockname()[1])],
                              cwd=repo, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port 0" in lines[0] and "Traceback" not in done.stderr, done.stderr
