"""The labeling page in a real browser: click, keys, paging, reload, undo; then read the file on disk."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models.label.server import serve_in_background
from models.label.store import LabelStore
from tests.models.label.test_products import scan_rows
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
    cards.nth(0).get_by_role("button", name="1 target").click()
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('1 of 60')")
    assert labeled(path) == {f"crops/{first_uri}": "target"}
    page.wait_for_function("() => state.focus === 1")  # moved on by itself

    for key in "OTS":
        page.keyboard.press(key)
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('4 of 60')")
    assert sorted(labeled(path).values()) == ["other", "skip", "target", "target"]
    assert page.inner_text(".chip[data-l=target] b") == "2" and page.inner_text("#c-left") == "left 56"

    page.reload()
    page.locator(".card.focus").wait_for()
    assert page.evaluate("state.focus") == 4  # reopens at the first unlabeled crop
    assert "4 of 60 labeled" in page.inner_text("#done")
    assert page.locator(".card.skip").count() == 1

    page.keyboard.press("U")  # undoes the skip, the last label made, even after a reload
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('3 of 60')")
    assert sorted(labeled(path).values()) == ["other", "target", "target"]
    page.wait_for_function("() => state.focus === 3")  # focus follows the undone crop once the page redraws

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


def positions_shown(page) -> list[int]:
    return page.evaluate("[...document.querySelectorAll('.card')].map(c => Number(c.dataset.position))")


def test_rest_of_page_other_is_one_undoable_step_and_the_page_never_moves(page, labeling):
    url, path = labeling
    page.goto(url)
    page.locator(".card.focus").wait_for()
    shown = positions_shown(page)
    page.keyboard.press("T")
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('1 of 60')")
    page.keyboard.press("Shift+O")  # the 47 crops left on this page, one request
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('48 of 60')")
    assert sorted(labeled(path).values()).count("other") == 47
    assert "page is done" in page.inner_text("#hint")
    page.keyboard.press("S")  # on a finished page a key labels the focused card, and the page stays
    page.wait_for_function("() => document.querySelector('.chip[data-l=skip] b').textContent === '1'")
    assert positions_shown(page) == shown and page.evaluate("state.offset") == 0
    page.keyboard.press("U")
    page.keyboard.press("U")  # undoes the whole bulk step at once
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('1 of 60')")
    assert list(labeled(path).values()) == ["target"]
    assert positions_shown(page) == shown
    assert page.locator("#finished").is_hidden()

    page.keyboard.press("N")
    page.wait_for_function("() => state.offset === 48")
    page.click("#rest")
    page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('13 of 60')")
    page.keyboard.press("P")
    page.wait_for_function("() => state.offset === 0")
    page.keyboard.press("Shift+O")
    page.locator("#finished").wait_for()  # nothing left: say how to train
    assert f"python -m models.train_classifier --data {path} --out my_classifier" in page.inner_text("#finished")
    assert sorted(set(labels_on_disk(path).values())) == ["other", "target"]


def test_filters_keep_their_cards_while_labeling(page, labeling):
    url, path = labeling
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows[:3]:
        row["label"] = "other"
    path.write_text("".join(json.dumps(dict(r, threshold=0.6)) + "\n" for r in rows))
    server, url = serve_in_background(LabelStore(str(path)))  # a second server reading the new rows
    try:
        page.goto(url)
        page.locator(".card.focus").wait_for()
        page.select_option("#f-predicted", "target")
        page.wait_for_function("() => document.querySelector('#matching').textContent === '24 match'")
        only_targets = "() => document.querySelector('.pred .product') && !document.querySelector('.pred .other')"
        page.wait_for_function(only_targets)  # the cards follow the count: they are fetched after it
        assert set(page.locator(".pred .product").all_inner_texts()) == {"1 target"}
        page.fill("#f-min", "0.7")
        page.fill("#f-max", "0.8")
        page.locator("#f-max").dispatch_event("change")
        page.wait_for_function("() => state.crops.every(c => c.score >= 0.7 && c.score <= 0.8)")
        assert 0 < page.locator(".card").count() < 24
        page.fill("#f-min", "")
        page.fill("#f-max", "")
        page.select_option("#f-predicted", "")
        page.check("#f-unlabeled")
        page.wait_for_function("() => document.querySelector('#matching').textContent === '57 match'")
        shown, focus = positions_shown(page), page.evaluate("state.focus")
        page.locator("#grid").click(position={"x": 1, "y": 1})  # back from the inputs to the grid's keys
        page.keyboard.press("O")  # labeled, but its card stays: the next click lands where it aims
        page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('4 of 60')")
        page.wait_for_function(f"() => state.focus === {focus + 1}")  # the page redraws after the save
        assert positions_shown(page) == shown
    finally:
        server.shutdown()
        server.server_close()


def test_all_four_arrow_keys_move_in_the_grid(page, labeling):
    url, _ = labeling
    page.goto(url)
    page.locator(".card.focus").wait_for()
    start = page.evaluate("state.focus")
    columns = page.evaluate("columns()")
    assert columns > 2
    moves = [("ArrowRight", 1), ("ArrowDown", 1 + columns), ("ArrowLeft", columns), ("ArrowUp", 0)]
    for key, expected in moves:
        page.keyboard.press(key)
        assert page.evaluate("state.focus") == start + expected, key
    focused = page.locator(".card.focus")
    assert focused.count() == 1 and int(focused.get_attribute("data-position")) == page.evaluate(
        "state.crops[state.focus].position")


def test_the_page_works_on_a_phone(browser, labeling):
    url, path = labeling
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3,
                                  is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(url)
        page.locator(".card.focus").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        buttons = page.locator("button:visible, select:visible, input[type=number]:visible")
        assert buttons.count() > 10
        for box in (buttons.nth(k).bounding_box() for k in range(buttons.count())):
            assert box["height"] >= 40 and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        columns = "getComputedStyle(document.getElementById('grid')).gridTemplateColumns.split(' ').length"
        assert page.evaluate(columns) == 2
        page.locator(".card").first.get_by_role("button", name="target").tap()
        page.wait_for_function("() => document.querySelector('#done').textContent.startsWith('1 of 60')")
        assert list(labeled(path).values()) == ["target"]
    finally:
        context.close()


PRODUCTS = ["micellar_rose", "shampoo_leaf"]


@pytest.fixture
def products(tmp_path):
    """A server over 12 crops a two-product scan wrote (each row's `product`, `product_score`, threshold);
    yields (url, crops.jsonl path)."""
    rows = [{"product": ([*PRODUCTS, "other"])[i % 3], "product_score": round(0.3 + 0.05 * i, 2), "threshold": 0.6}
            for i in range(12)]
    path = scan_rows(tmp_path, rows)
    server, url = serve_in_background(LabelStore(str(path)))
    yield url, path
    server.shutdown()
    server.server_close()


def chips(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#chips .chip')].map(c => c.innerText.replace(/\\s+/g, ' '))")


def wait_labeled(page, done: int, total: int = 12) -> None:
    page.wait_for_function(f"() => document.querySelector('#done').textContent.startsWith('{done} of {total}')")


def focused_name(page) -> str:
    return page.evaluate("state.crops[state.focus].name")


def test_number_keys_label_products_and_a_product_added_on_the_page_survives_a_restart(page, products):
    url, path = products
    page.goto(url)
    page.locator(".card.focus").wait_for()
    assert chips(page) == ["1 micellar_rose 0", "2 shampoo_leaf 0", "O other 0", "S skip 0"]
    assert page.inner_text("#keys-products") == "1-2 products"
    predicted = page.locator(".card").first.locator(".pred .product, .pred .other").inner_text()
    assert predicted in ("1 micellar_rose", "2 shampoo_leaf", "other")  # the scan's suggestion, with its key

    expected = {}
    for key, label in (("1", "micellar_rose"), ("2", "shampoo_leaf"), ("O", "other"), ("T", None), ("S", "skip")):
        name = focused_name(page)
        page.keyboard.press(key)  # T: no product `target` in this list, so it does nothing
        if label:
            expected[f"crops/{name}"] = label
            wait_labeled(page, len(expected))
    assert labeled(path) == expected
    assert chips(page) == ["1 micellar_rose 1", "2 shampoo_leaf 1", "O other 1", "S skip 1"]
    page.keyboard.press("U")
    wait_labeled(page, 3)
    assert sorted(labeled(path).values()) == ["micellar_rose", "other", "shampoo_leaf"]

    page.fill("#new-product", "cola_dark")
    page.press("#new-product", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#chips .chip').length === 5")
    assert chips(page)[2] == "3 cola_dark 0" and "key 3" in page.inner_text("#hint")
    assert json.loads((path.parent / "crops.products.json").read_text()) == {"products": [*PRODUCTS, "cola_dark"]}
    name = focused_name(page)
    page.keyboard.press("3")  # the form gave the keys back to the grid
    wait_labeled(page, 4)
    assert labeled(path)[f"crops/{name}"] == "cola_dark"

    page.fill("#new-product", "<img src=x onerror=window.pwned=1>")
    page.press("#new-product", "Enter")
    page.wait_for_function("() => document.querySelector('#hint').textContent.startsWith('error:')")
    assert "must be 1-64 letters" in page.inner_text("#hint") and page.evaluate("window.pwned") is None
    page.fill("#new-product", "Other")
    page.press("#new-product", "Enter")
    page.wait_for_function("() => document.querySelector('#hint').textContent.includes('is reserved')")
    assert len(chips(page)) == 5

    page.fill("#new-product", "zest")  # a fourth product: each card now offers one list instead of buttons
    page.press("#new-product", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#chips .chip').length === 6")
    name = focused_name(page)
    page.locator(".card.focus").get_by_label("product").select_option("zest")
    wait_labeled(page, 5)
    assert labeled(path)[f"crops/{name}"] == "zest"

    server, second = serve_in_background(LabelStore(str(path)))  # a restart: a new server over the same files
    try:
        page.goto(second)
        page.locator(".card.focus").wait_for()
        assert chips(page) == ["1 micellar_rose 1", "2 shampoo_leaf 1", "3 cola_dark 1", "4 zest 1", "O other 1",
                               "S skip 0"]
        assert page.evaluate("[...document.querySelectorAll('#f-predicted option')].map(o => o.value)") == [
            "", *PRODUCTS, "cola_dark", "zest", "other"]
    finally:
        server.shutdown()
        server.server_close()


def test_nine_products_fit_a_phone_and_a_laptop(browser, tmp_path):
    names = ["micellar_rose", "shampoo_leaf", "cola_dark", "lemon_fizz_extra_large_family_bottle", "orange.juice",
             "still-water", "sparkling_water", "dish_soap", "b9"]
    path = write_crops(tmp_path, [0.1 + 0.05 * i for i in range(16)])
    server, url = serve_in_background(LabelStore(str(path), products=names))
    try:
        for width, height in ((390, 844), (1440, 900)):
            phone = width < 700
            context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone,
                                          has_touch=phone)
            page = context.new_page()
            page.goto(url)
            page.locator(".card.focus").wait_for()
            assert page.evaluate("[...document.querySelectorAll('#chips .chip')].map(c => c.dataset.l)") == [
                *names, "other", "skip"]
            assert page.evaluate("document.documentElement.scrollWidth") <= width, width  # no sideways scrolling
            controls = page.locator("#legend button:visible, #legend input:visible, .card select:visible")
            for box in (controls.nth(k).bounding_box() for k in range(controls.count())):
                assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
                assert not phone or box["height"] >= 40, box
            page.locator(".chip[data-l='b9']").click()  # a chip labels the focused crop, as key 9 does
            page.wait_for_function("() => document.querySelector('.chip[data-l=b9] b').textContent !== '0'")
            context.close()
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(labeled(path).values()) == ["b9", "b9"]
