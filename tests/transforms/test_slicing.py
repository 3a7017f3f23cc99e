"""Sliced inference as pure functions: the windows, the views chosen, boxes back to original pixels, one
box per bottle."""
import functools
import types

import numpy as np
import pytest

from transforms.detection import ViewChooser, detector_input, to_detections, window_boxes
from transforms.records import DecodedImage
from transforms.slicing import (
    DEFAULT_MIN_EDGES,
    DEFAULT_OVERLAP,
    MAX_SLICES_ACROSS,
    MIN_SLICES_ACROSS,
    SlicePlan,
    View,
    Window,
    WindowBoxes,
    cut_sides,
    edge_share,
    merge,
    slice_options_problem,
    slice_side,
    spans,
    to_original,
    windows,
)


def _covered(height, width, found):
    seen = np.zeros((height, width), bool)
    for w in found:
        seen[w.y0:w.y1, w.x0:w.x1] = True
    return seen.all()


@pytest.mark.parametrize("height, width", [(3000, 4000), (513, 2000), (1000, 1000), (4000, 600)])
def test_slices_cover_the_image_overlap_and_end_flush(height, width):
    whole, *slices = windows(height, width, 512, 0.2)
    side = slice_side(512, max(height, width))  # 1000 on the 4000-px images, 512 on the others
    assert whole == Window(0, 0, width, height)
    assert _covered(height, width, slices)
    assert all(w.width == min(side, width) and w.height == min(side, height) for w in slices)
    for length in (height, width):
        parts = spans(length, side, 0.2)
        assert parts[0][0] == 0 and parts[-1][1] == length  # the last one flush with the edge
        shared = [a_end - b_start for (_, a_end), (b_start, _) in zip(parts, parts[1:])]
        assert all(s >= 0.2 * side - 1 for s in shared)
        steps = [b - a for (a, _), (b, _) in zip(parts, parts[1:])]
        assert not steps or max(steps) - min(steps) <= 1  # spread evenly


def test_no_slices_when_off_or_when_the_image_fits_one():
    assert windows(400, 512, 512, 0.2) == (Window(0, 0, 512, 400),)
    assert windows(3000, 4000, 0, 0.2) == (Window(0, 0, 4000, 3000),)


def test_the_number_of_slices_grows_with_the_image_up_to_a_grid():
    counts = [len(windows(side * 3 // 4, side, 300, 0.2)) - 1 for side in (400, 600, 800, 1200, 4032, 8000)]
    assert counts == sorted(counts) and counts[3] >= 8 * counts[0]
    assert counts[-2] == counts[-1] <= (MAX_SLICES_ACROSS + 1) ** 2  # large photos: slices grow instead
    assert slice_side(300, 4032) == 1008 and slice_side(300, 741) == 300 and slice_side(0, 4032) == 0
    assert len(windows(3000, 4000, 512, 0.5)) > len(windows(3000, 4000, 512, 0.2))  # more overlap, more slices


def test_boxes_map_from_a_slices_input_back_to_original_pixels():
    view = View(Window(600, 300, 1112, 812), 0.5, 0.5)  # a 512-px slice letterboxed into 256 px
    normalized = np.array([[0.25, 0.5, 0.75, 1.0],  # y 64..192, x 128..256 in the input
                           [0.9, 0.9, 1.2, 1.2]])   # partly beyond the input: clipped to the window
    boxes = to_original(normalized, view, (256, 256))
    assert boxes[0] == pytest.approx([600 + 256, 300 + 128, 600 + 512, 300 + 384])
    assert boxes[1] == pytest.approx([600 + 460.8, 300 + 460.8, 1112, 812])
    stretched = View(Window(0, 0, 1000, 250), 0.1, 0.4)  # 1000 x 250 stretched to 100 x 100
    assert to_original(np.array([[0.5, 0.5, 1.0, 1.0]]), stretched, (100, 100))[0] == pytest.approx(
        [500, 125, 1000, 250])


def test_only_window_edges_inside_the_image_cut_boxes():
    boxes = np.array([[100, 20, 200, 80], [0, 0, 30, 30], [450, 100, 512, 200]], float)
    cut = cut_sides(boxes, Window(0, 0, 512, 512), 1000, 2000)  # the top-left slice of a larger image
    assert cut.tolist() == [[False] * 4, [False] * 4, [False, False, True, False]]
    assert not cut_sides(boxes, Window(0, 0, 2000, 1000), 1000, 2000).any()  # the whole image cuts nothing


WHOLE = Window(0, 0, 1000, 400)
LEFT, MIDDLE, RIGHT = Window(0, 0, 400, 400), Window(300, 0, 700, 400), Window(600, 0, 1000, 400)


def _found(*per_window):
    """WindowBoxes as a 100-px detector input would give them: the whole image at 0.1, slices at 0.25."""
    return [WindowBoxes(View(w, 0.1 if w == WHOLE else 0.25, 0.1 if w == WHOLE else 0.25),
                        np.array(b, float).reshape(-1, 4), np.array(s, float)) for w, b, s in per_window]


def test_one_window_gives_every_box_as_it_came_best_first():
    found = _found((WHOLE, [[10, 10, 50, 90], [12, 10, 52, 90], [300, 10, 340, 90]], [0.6, 0.9, 0.7]))
    assert merge(found, 400, 1000) == [((12, 10, 52, 90), 0.9), ((300, 10, 340, 90), 0.7), ((10, 10, 50, 90), 0.6)]


def test_a_half_bottle_on_a_slice_border_comes_out_once_with_the_whole_box():
    found = _found((WHOLE, [[358, 118, 444, 302]], [0.6]),  # low resolution: a little loose
                   (LEFT, [[360, 120, 400, 300]], [0.8]),   # cut by the slice's right edge
                   (MIDDLE, [[360, 120, 440, 300]], [0.9]))
    ((box, score),) = merge(found, 400, 1000)  # the windows that saw it whole, weighted by score
    assert box == pytest.approx((360, 120, 440, 300), abs=2) and score == 0.9


def test_fragments_from_two_slices_make_one_box_even_when_the_whole_image_pass_missed_it():
    found = _found((LEFT, [[240, 100, 400, 300]], [0.9]), (MIDDLE, [[300, 102, 480, 298]], [0.8]))
    # each side from the windows that saw it whole: left from LEFT, right from MIDDLE, top and bottom both
    ((box, score),) = merge(found, 400, 1000)
    assert box == pytest.approx((240, 100, 480, 300), abs=1) and score == 0.9


def test_a_fragment_inside_a_looser_whole_box_joins_it():
    found = _found((WHOLE, [[330, 100, 450, 310]], [0.7]), (LEFT, [[370, 125, 400, 290]], [0.6]))
    ((box, score),) = merge(found, 400, 1000)
    assert box == pytest.approx((330, 100, 450, 310)) and score == 0.7


def test_two_touching_bottles_stay_two():
    found = _found((WHOLE, [[340, 120, 380, 300], [380, 120, 420, 300]], [0.6, 0.6]),
                   (LEFT, [[340, 120, 380, 300], [380, 120, 400, 300]], [0.9, 0.7]),
                   (MIDDLE, [[340, 120, 380, 300], [380, 120, 420, 300]], [0.9, 0.9]))
    boxes = sorted(box for box, _ in merge(found, 400, 1000))
    assert boxes == [pytest.approx((340, 120, 380, 300)), pytest.approx((380, 120, 420, 300))]


def test_a_bottle_half_hidden_behind_its_neighbour_is_not_merged_into_it():
    # IoU 0.35, but 59 % of the hidden one lies inside the front one: SAHI's IoS 0.5 would merge them
    front, behind = [320, 100, 390, 300], [350, 80, 410, 260]
    found = _found((WHOLE, [front, behind], [0.8, 0.6]), (MIDDLE, [front, behind], [0.9, 0.7]))
    assert sorted(box for box, _ in merge(found, 400, 1000)) == [pytest.approx(front), pytest.approx(behind)]


def test_sliced_detection_end_to_end_with_given_outputs():
    """detector_input makes the windows' inputs; to_detections maps each window's boxes and merges them."""
    image = DecodedImage("mem://shelf.png", np.zeros((400, 1000, 3), np.uint8))
    task = detector_input(image, 100, "letterbox", 400, 0.25)
    assert [v.window for v in task.views] == [WHOLE, LEFT, MIDDLE, RIGHT]
    assert all(x.shape == (100, 100, 3) for x in task.model_inputs)

    def seen(window, box, score):  # the model's output for a box in original pixels, in its input frame
        view = task.views[[v.window for v in task.views].index(window)]
        x0, y0, x1, y1 = box
        norm = [(y0 - window.y0) * view.scale_y / 100, (x0 - window.x0) * view.scale_x / 100,
                (y1 - window.y0) * view.scale_y / 100, (x1 - window.x0) * view.scale_x / 100]
        return {"detection_boxes": np.array([norm]), "detection_scores": np.array([score])}

    outputs = [seen(WHOLE, (358, 118, 442, 302), 0.6), seen(LEFT, (360, 120, 400, 300), 0.8),
               seen(MIDDLE, (360, 120, 440, 300), 0.9), {"detection_boxes": np.zeros((0, 4)),
                                                         "detection_scores": np.zeros(0)}]
    (det,) = to_detections(task, outputs, 0.5, ())
    assert det.box == pytest.approx((360, 120, 440, 300), abs=2) and det.score == pytest.approx(0.9)


def test_what_slices_see_inside_a_bottle_larger_than_them_is_part_of_it():
    big = [250, 20, 650, 390]  # no slice holds it; each sees a label or a shoulder as a bottle
    found = _found((WHOLE, [big], [0.8]), (LEFT, [[300, 50, 380, 200]], [0.5]),
                   (MIDDLE, [[400, 100, 460, 250], [500, 120, 560, 260]], [0.7, 0.6]))
    assert merge(found, 400, 1000) == [(pytest.approx(big), 0.8)]


def test_two_small_bottles_under_one_loose_low_resolution_box_stay_two():
    found = _found((WHOLE, [[350, 100, 470, 300]], [0.7]),
                   (MIDDLE, [[360, 110, 400, 290], [420, 110, 460, 290]], [0.9, 0.8]))
    assert len(merge(found, 400, 1000)) == 2


# Choosing the views: two passes, the grid from the whole view's bottles, blank slices skipped.

PHONE_H, PHONE_W = 3024, 4032


@functools.lru_cache(maxsize=4)
def _photo(height=PHONE_H, width=PHONE_W, shelves=(PHONE_H,), seed=0):
    """A grey wall with sensor noise; on each shelf (the row it lies at) bottles 580 px tall: bright and
    dark bars with labels."""
    pixels = np.random.default_rng(seed).integers(112, 129, (height, width, 3), dtype=np.uint8)
    for shelf in shelves:
        for x in range(40, width - 120, 160):
            pixels[max(0, shelf - 600):shelf - 20, x:x + 110] = (40, 90, 200) if (x // 160) % 2 else (230, 200, 60)
            pixels[max(0, shelf - 400):shelf - 300, x + 10:x + 100] = 250  # the label
    return DecodedImage("mem://photo.jpg", pixels)


FULL = (620, 1240, 1860, 2480, 3024)  # a photo full of shelves


def _outputs(task, bottles):
    """What a detector reports per view for `bottles` (original pixels, score 0.9): each box, clipped to the
    view's window, in the view's normalized input frame. A stand-in detector that sees every bottle."""
    per_view = []
    for view, model_input in zip(task.views, task.model_inputs):
        in_h, in_w = model_input.shape[:2]
        w, boxes = view.window, []
        for x0, y0, x1, y1 in bottles:
            x0, y0, x1, y1 = max(x0, w.x0), max(y0, w.y0), min(x1, w.x1), min(y1, w.y1)
            if x1 > x0 and y1 > y0:
                top, left = view.top + (y0 - w.y0) * view.scale_y, view.left + (x0 - w.x0) * view.scale_x
                bottom, right = view.top + (y1 - w.y0) * view.scale_y, view.left + (x1 - w.x0) * view.scale_x
                boxes.append([top / in_h, left / in_w, bottom / in_h, right / in_w])
        per_view.append({"detection_boxes": np.array(boxes).reshape(-1, 4),
                         "detection_scores": np.full(len(boxes), 0.9)})
    return per_view


def _chooser(plan=None, input_size=300, resize="stretch"):
    return ViewChooser(input_size, resize, 0.5, (), plan or SlicePlan(300))


def test_a_blank_slice_is_skipped_a_textured_one_kept_and_the_whole_image_always_kept():
    image = _photo()  # bottles in rows 2424-3004, above them a bare wall
    chooser = _chooser()
    whole = chooser.whole(image)
    more = chooser.slices(whole, _outputs(whole, [])[0])  # the whole view showed no bottle: the finest grid
    every = windows(PHONE_H, PHONE_W, 300, DEFAULT_OVERLAP)[1:]
    kept = {v.window for v in more.views}
    assert kept < set(every) and kept  # some skipped, some kept
    for window in every:
        wall_only = window.y1 <= PHONE_H - 600
        assert (window in kept) != wall_only, window
    bare = chooser.whole(_photo(shelves=()))  # nothing anywhere: the whole image alone
    ((task, outputs),) = chooser.run([bare], lambda tasks: [_outputs(t, []) for t in tasks])
    assert [v.window for v in task.views] == [Window(0, 0, PHONE_W, PHONE_H)] and len(outputs) == 1
    keep_all = _chooser(SlicePlan(300, min_edges=0)).slices(whole, _outputs(whole, [])[0])
    assert [v.window for v in keep_all.views] == list(every)


def test_the_look_sees_edges_not_noise():
    wall = _photo(1008, 1008, shelves=()).pixels
    shelf = _photo(1008, 1008, shelves=(600, 1008)).pixels
    assert edge_share(wall) < DEFAULT_MIN_EDGES / 10 and edge_share(shelf) > 3 * DEFAULT_MIN_EDGES
    assert edge_share(np.zeros((1, 1, 3), np.uint8)) == 0.0 and edge_share(np.zeros((3, 500), np.uint8)) == 0.0
    assert edge_share(shelf[:, :, 0]) == pytest.approx(edge_share(np.repeat(shelf[:, :, :1], 3, axis=2)))


def test_the_grid_follows_the_smallest_bottle_the_whole_view_showed():
    image = _photo(shelves=FULL)
    chooser = _chooser()
    whole = chooser.whole(image)

    def across(*bottles):
        return chooser.across(image, window_boxes(whole.views[0], (300, 300), _outputs(whole, bottles)[0], 0.5, ()))

    # 900 px long in a 2016-px slice (1/2 of 4032) at 300 px: 134 input pixels, enough
    assert across((1000, 1000, 1300, 1900)) == MIN_SLICES_ACROSS
    # 450 px: 67 in 1/2, enough; 350 px: 52 in 1/2, 78 in 1/3; 150 px: 45 in 1/4, the finest anyway
    assert across((1000, 1000, 1300, 1450)) == 2 and across((1000, 1000, 1300, 1350)) == 3
    assert across((1000, 1000, 1300, 1900), (2000, 100, 2100, 250)) == MAX_SLICES_ACROSS  # the smallest decides
    assert across() == MAX_SLICES_ACROSS  # none found: small bottles may be all there is
    assert _chooser(SlicePlan(300, bottle_px=0)).across(
        image, window_boxes(whole.views[0], (300, 300), _outputs(whole, [(1000, 1000, 1300, 1900)])[0], 0.5, ())
    ) == MAX_SLICES_ACROSS


@pytest.mark.parametrize("resize, input_size", [("stretch", 300), ("letterbox", 300), ("letterbox_center", 320),
                                                ("letterbox", None)])
def test_boxes_from_the_chosen_views_map_back_to_original_pixels(resize, input_size):
    image = _photo(1500, 2000, shelves=(1500,))
    bottles = [(40, 900, 150, 1480), (1320, 900, 1430, 1480), (985, 1080, 1030, 1280)]  # one on slice borders
    chooser = _chooser(SlicePlan(300, max_across=4), input_size, resize)
    ((task, outputs),) = chooser.run([chooser.whole(image)], lambda ts: [_outputs(t, bottles) for t in ts])
    assert 1 < len(task.views) < len(windows(1500, 2000, 300, DEFAULT_OVERLAP))  # the wall's slices skipped
    found = sorted(d.box for d in to_detections(task, outputs, 0.5, ()))
    assert len(found) == 3
    for box, truth in zip(found, sorted(bottles)):
        assert box == pytest.approx(truth, abs=2)


def test_the_default_views_of_a_phone_photo():
    image = _photo(shelves=FULL)
    chooser = ViewChooser(300, "stretch", 0.3, (44,), SlicePlan(300))  # the coco detector's feeding, defaults
    whole = chooser.whole(image)

    def views(*bottles):
        outputs = _outputs(whole, bottles)[0]
        outputs["detection_classes"] = np.full(len(outputs["detection_scores"]), 44.0)
        return 1 + len(chooser.slices(whole, outputs).views)

    assert views() == 21  # no bottle seen whole: the whole photo and 5 x 4 slices of 1008 px
    assert views((200, 2400, 310, 2980)) == 7  # a 580-px bottle seen: 3 x 2 slices of 2016 px
    bare = chooser.whole(_photo(shelves=()))
    assert not chooser.slices(bare, _outputs(bare, [])[0]).views  # a bare wall: the whole photo alone
    assert not ViewChooser(300, "stretch", 0.3, (44,), SlicePlan(0)).slices(whole, _outputs(whole, [])[0]).views


@pytest.mark.parametrize("option, value, said", [
    ("slice_size", 10, "--slice_size 10: must be 0 (no slicing) or at least 64"),
    ("slice_overlap", 1.0, "--slice_overlap 1.0: must be at least 0 and below 1"),
    ("slice_max_across", 1, "--slice_max_across 1: must be between 2 and 64"),
    ("slice_bottle_px", float("nan"), "--slice_bottle_px nan: must be at least 0"),
    ("slice_min_edges", -0.1, "--slice_min_edges -0.1: must be between 0 and 1")])
def test_out_of_range_slice_options_are_named_with_what_to_give(option, value, said):
    options = {"slice_size": None, "slice_overlap": DEFAULT_OVERLAP, "slice_max_across": MAX_SLICES_ACROSS,
               "slice_bottle_px": 60.0, "slice_min_edges": DEFAULT_MIN_EDGES}
    assert slice_options_problem(types.SimpleNamespace(**options)) is None
    problem = slice_options_problem(types.SimpleNamespace(**{**options, option: value}))
    assert problem.startswith(said) and "\n" not in problem and ("use e.g." in problem or "try" in problem
                                                                 or "default" in problem)
