"""The labeling page in a real browser: click, keys, paging, reload, undo; then read the file on disk."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models.label.server import serve_in_background
from models.label.store import LabelStore
from tests.models.label.test_store import write_crops


@pytest.fixture
def labeling(tmp_path):
    """A server over 60 crops (two pages of 48); yields (url, crops.jsonl path, scores by uri)."""
    scores = [round(0.02 + 0.96 * i / 59, 4) for i in range(60)]
    path = write_crops(tmp_path, scores)
    server, url = serve_in_background(LabelStore(str(path)))
    yield url, path
    server.shutdown()
    server.server_close()


def labels_on_disk(path) -> dict[str, str]:
    return {r["uri"]: r["label"] for r in map(json.loads, path.read_text().splitlines())}


def labeled(path) -> dict[str, str]:
    return {uri: label for uri, label in labels_on_disk(path).items() if label}


def test_label_by_click_and_keys_reload_and_undo(page, labeling):
    url, path = labeling
    blocked = []  # the page runs under its own strict CSP: nothing of it may be refused
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(url)
    cards = page.locator(".card")
    cards.first.wait_for()
    assert cards.count() == 48  # one page, not all 60
    first_score = float(cards.nth(0).locator(".score").inner_text().split()[1])
    assert abs(first_score - 0.5) < 0.02  # least certain first
    assert "0 of 60 labeled" in page.inner_text("#done")

    first_uri = page.evaluate("state.crops[0].name")
    cards.nth(0).get_by_role("button", name="T target").click()
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('1 of 60')")
    assert labeled(path) == {f"crops/{first_uri}": "target"}
    assert page.evaluate("state.focus") == 1  # moved on by itself

    for key in "OTS":
        page.keyboard.press(key)
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('4 of 60')")
    assert sorted(labeled(path).values()) == ["other", "skip", "target", "target"]
    assert "target 2" in page.inner_text("#counts") and "left 56" in page.inner_text("#counts")

    page.reload()
    page.locator(".card.focus").wait_for()
    assert page.evaluate("state.focus") == 4  # reopens at the first unlabeled crop
    assert "4 of 60 labeled" in page.inner_text("#done")
    assert page.locator(".card.skip").count() == 1

    page.keyboard.press("U")  # undoes the skip, the last label made, even after a reload
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('3 of 60')")
    assert sorted(labeled(path).values()) == ["other", "target", "target"]
    assert page.evaluate("state.focus") == 3

    page.click("#next")
    page.wait_for_function("() => state.offset === 48")
    assert page.locator(".card").count() == 12
    assert page.locator(".card img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    assert blocked == []


ATTACK = """<!doctype html><title>cat pictures</title><img id="peek" src="TARGETcrop/0.jpg">
<script>
const label = '{"position": 0, "label": "skip"}';
Promise.allSettled([
  fetch("TARGETapi/label", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: label}),
  fetch("TARGETapi/label", {method: "POST", headers: {"Content-Type": "application/json"}, body: label}),
  fetch("TARGETapi/state").then(r => r.text()),
  new Promise((ok, no) => { const img = document.getElementById("peek");
                            img.complete ? (img.naturalWidth ? ok() : no()) : (img.onload = ok, img.onerror = no); }),
]).then(results => { window.results = results.map(r => r.status); });
</script>"""


def test_a_page_on_another_origin_cannot_label_or_read(page, labeling):
    url, path = labeling

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self):
            body = ATTACK.replace("TARGET", url).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    attacker = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        page.wait_for_function("() => window.results !== undefined")
        # every answer carries Cross-Origin-Resource-Policy: same-origin, so even the no-cors POST and the
        # <img> fail in the browser; what matters most is below: nothing reached the file
        assert page.evaluate("window.results") == ["rejected"] * 4
    finally:
        attacker.shutdown()
        attacker.server_close()
    assert labeled(path) == {}
