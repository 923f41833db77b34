"""The mask editor: strokes, fills, the constrained brush, undo/redo and its memory bound."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from qbi_desktop.core.annotation.masks import ConstraintRule, MaskEditor, disc_footprint
from qbi_desktop.core.errors import UserFacingError


def _disc_mask(shape, cy, cx, r):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r + 1e-9


def test_dab_paints_exactly_the_disc_and_returns_its_rectangle():
    ed = MaskEditor((64, 80))
    ed.begin_stroke(1)
    rect = ed.dab(20, 30, 4)
    assert rect == (16, 25, 26, 35)
    np.testing.assert_array_equal(ed.mask == 1, _disc_mask((64, 80), 20, 30, 4))
    # a second dab on painted pixels changes nothing and says so
    assert ed.dab(20, 30, 4) is None
    delta = ed.end_stroke()
    assert delta is not None and delta.n == int(_disc_mask((64, 80), 20, 30, 4).sum())


def test_dab_at_the_border_is_clipped():
    ed = MaskEditor((30, 30))
    rect = ed.dab(0, 29, 5, label=2)
    assert rect == (0, 6, 24, 30)
    assert ed.mask[0, 29] == 2 and ed.mask.max() == 2
    assert ed.dab(-50, -50, 3, label=2) is None


def test_stroke_undo_redo_give_exact_masks():
    rng = np.random.default_rng(1)
    ed = MaskEditor((120, 150))
    states = [ed.mask.copy()]
    y, x = 60.0, 75.0
    for label in (1, 2, 1, 0, 3):  # each stroke starts where the last ended (the eraser too)
        ed.begin_stroke(label)
        for _ in range(10):
            ny, nx = y + rng.uniform(-15, 15), x + rng.uniform(-15, 15)
            ed.line(y, x, ny, nx, rng.uniform(1, 6))
            y, x = ny, nx
        assert ed.end_stroke() is not None
        states.append(ed.mask.copy())
    # every undo returns to the previous state exactly and reports a rectangle holding the change
    for i in range(len(states) - 1, 0, -1):
        rect = ed.undo()
        np.testing.assert_array_equal(ed.mask, states[i - 1])
        y0, y1, x0, x1 = rect
        changed = np.argwhere(states[i] != states[i - 1])
        assert (changed[:, 0] >= y0).all() and (changed[:, 0] < y1).all()
        assert (changed[:, 1] >= x0).all() and (changed[:, 1] < x1).all()
    assert ed.undo() is None
    for i in range(1, len(states)):
        ed.redo()
        np.testing.assert_array_equal(ed.mask, states[i])
    assert ed.redo() is None


def test_new_stroke_after_undo_drops_redo():
    ed = MaskEditor((40, 40))
    ed.dab(10, 10, 3, label=1)
    ed.undo()
    assert ed.can_redo
    ed.dab(30, 30, 3, label=1)
    assert not ed.can_redo and ed.redo() is None


def test_modified_flag_follows_save_point_through_undo():
    ed = MaskEditor((40, 40))
    assert not ed.is_modified
    ed.dab(10, 10, 3, label=1)
    assert ed.is_modified
    ed.mark_saved()
    assert not ed.is_modified
    ed.dab(20, 20, 3, label=1)
    assert ed.is_modified
    ed.undo()
    assert not ed.is_modified  # back at the saved content


def test_undo_memory_of_200_spot_strokes_is_under_5_mb_and_200_steps_kept():
    ed = MaskEditor((2048, 2048))
    rng = np.random.default_rng(0)
    for _ in range(200):
        y, x = rng.uniform(20, 2028, 2)
        ed.begin_stroke(1)
        for _ in range(15):  # a spot outline scribbled with a small brush
            ny, nx = y + rng.uniform(-3, 3), x + rng.uniform(-3, 3)
            ed.line(y, x, ny, nx, 3)
            y, x = ny, nx
        ed.end_stroke()
    assert ed.undo_depth == 200
    assert 0 < ed.undo_bytes() <= 5 * 2**20
    # the accounting is real: it shrinks to 0 when everything is undone and redo is dropped
    for _ in range(200):
        ed.undo()
    assert not ed.mask.any()
    ed.dab(5, 5, 1, label=1)
    assert ed.undo_depth == 1 and ed.undo_bytes() < 1024


def test_history_keeps_max_steps_and_respects_the_byte_budget():
    ed = MaskEditor((200, 200), max_steps=5)
    for i in range(8):
        ed.dab(10 + 20 * i, 100, 4, label=1)
    assert ed.undo_depth == 5
    ed2 = MaskEditor((500, 500), max_bytes=50_000)
    for i in range(10):
        ed2.fill_polygon([(0, 0), (0, 499), (499, 499)], label=1 + i % 2)
    assert ed2.undo_bytes() <= 50_000 or ed2.undo_depth == 1


def test_line_leaves_no_gaps_for_a_fast_stroke():
    ed = MaskEditor((300, 300))
    ed.begin_stroke(1)
    # two far-apart samples, as a pen moved fast between two events
    ed.line(20, 20, 280, 250, 1.0)
    ed.line(280, 250, 30, 290, 3.0)
    ed.end_stroke()
    painted = ed.mask > 0
    _, n = ndi.label(painted, structure=np.ones((3, 3)))
    assert n == 1
    # every point of the ideal segment is painted (no gap anywhere along it)
    t = np.linspace(0, 1, 2000)
    ys, xs = np.floor(20 + 260 * t + 0.5).astype(int), np.floor(20 + 230 * t + 0.5).astype(int)
    assert painted[ys, xs].all()
    # with radius 3 the second segment is thick: across its middle (row 155, x = 270) it is
    # painted from x = 268 to 272 and not at x = 275
    assert painted[155, 268:273].all() and not painted[155, 275]


def test_erase_mode_and_label_zero_erase():
    ed = MaskEditor((50, 50))
    ed.dab(25, 25, 8, label=2)
    ed.begin_stroke(0)
    ed.dab(25, 25, 3)
    ed.end_stroke()
    assert ed.mask[25, 25] == 0 and ed.mask[25, 32] == 2
    ed.begin_stroke(5, mode="erase")
    ed.dab(25, 32, 1)
    ed.end_stroke()
    assert ed.mask[25, 32] == 0


def test_protect_mode_paints_only_background_and_erases_only_own_label():
    ed = MaskEditor((50, 50))
    ed.dab(25, 20, 6, label=2)
    ed.begin_stroke(1, mode="protect")
    ed.line(25, 5, 25, 45, 4)
    ed.end_stroke()
    assert ed.mask[25, 20] == 2  # the other label survived
    assert ed.mask[25, 40] == 1
    ed.begin_stroke(1, mode="protect")
    ed.dab(25, 25, 30, label=0)  # eraser end of the pen: only label 1 goes
    ed.end_stroke()
    assert (ed.mask == 1).sum() == 0 and ed.mask[25, 20] == 2


def test_fill_label_fills_the_4_connected_region_only():
    ed = MaskEditor((40, 40))
    # a closed 4-connected ring of label 1 whose inside is background
    ed.fill_polygon([(5, 5), (5, 30), (30, 30), (30, 5)], label=1)
    ed.fill_polygon([(8, 8), (8, 27), (27, 27), (27, 8)], label=0)
    inside = ed.mask[10:25, 10:25].copy()
    assert not inside.any()
    rect = ed.fill_label(15, 15, label=3)
    assert rect is not None
    assert (ed.mask[10:25, 10:25] == 3).all()
    assert ed.mask[0, 0] == 0 and ed.mask[5, 5] == 1  # outside and the ring untouched
    ed.undo()
    assert (ed.mask[10:25, 10:25] == 0).all()


def test_fill_intensity_follows_the_image_within_tolerance():
    image = np.full((60, 60), 1000, dtype=np.uint16)
    image[10:30, 10:30] = 5000
    image[12, 12] = 5300  # within tolerance 400
    image[20, 20] = 9000  # outside it: a hole in the fill
    ed = MaskEditor(image.shape)
    ed.fill_intensity(image, 15, 15, tolerance=400, label=1)
    expected = (image >= 4600) & (image <= 5400)
    np.testing.assert_array_equal(ed.mask == 1, expected)


def test_fill_polygon_matches_skimage_polygon():
    from skimage.draw import polygon

    ed = MaskEditor((100, 100))
    pts = [(10, 10), (15, 80), (60, 90), (85, 20)]
    ed.fill_polygon(pts, label=4)
    rr, cc = polygon([p[0] for p in pts], [p[1] for p in pts], (100, 100))
    expected = np.zeros((100, 100), bool)
    expected[rr, cc] = True
    np.testing.assert_array_equal(ed.mask == 4, expected)
    with pytest.raises(UserFacingError, match="three"):
        ed.fill_polygon([(1, 1), (2, 2)], label=1)


def test_constrained_brush_paints_only_qualifying_pixels():
    rng = np.random.default_rng(3)
    image = rng.normal(1000, 10, (80, 80)).astype(np.float32)
    spot = np.zeros(image.shape, bool)
    spot[40:43, 40:42] = True
    spot[45, 38] = True
    image[spot] += 400  # 40 sigma above the background
    ed = MaskEditor(image.shape)
    rule = ConstraintRule(kind="residual", k=6.0)
    rect, preview = ed.constrained_preview(image, 41, 41, 8, rule)
    painted = ed.constrained_dab(image, 41, 41, 8, label=1, rule=rule)
    assert painted is not None
    # exactly the spot pixels inside the disc, nothing of the background around them
    np.testing.assert_array_equal(ed.mask == 1, spot & _disc_mask(image.shape, 41, 41, 8))
    y0, y1, x0, x1 = rect
    np.testing.assert_array_equal(preview, (ed.mask == 1)[y0:y1, x0:x1])
    # raw threshold: only pixels >= threshold inside the disc
    ed2 = MaskEditor(image.shape)
    ed2.constrained_dab(image, 41, 41, 3, 2, ConstraintRule(kind="raw", threshold=1300))
    np.testing.assert_array_equal(
        ed2.mask == 2, (image >= 1300) & _disc_mask(image.shape, 41, 41, 3)
    )


def test_replace_mask_is_one_undo_step_and_paint_pixels_works():
    ed = MaskEditor((30, 30))
    new = np.zeros((30, 30), np.uint8)
    new[3:9, 4:7] = 2
    ed.replace_mask(new)
    np.testing.assert_array_equal(ed.mask, new)
    ed.paint_pixels(np.array([0, 29]), np.array([0, 29]), label=1)
    assert ed.mask[0, 0] == 1 and ed.mask[29, 29] == 1
    ed.undo()
    ed.undo()
    assert not ed.mask.any()


def test_labels_above_255_promote_to_uint16_and_undo_keeps_them():
    ed = MaskEditor((20, 20))
    ed.dab(5, 5, 2, label=7)
    ed.dab(12, 12, 2, label=300)
    assert ed.mask.dtype == np.uint16 and ed.mask[12, 12] == 300 and ed.mask[5, 5] == 7
    ed.undo()
    assert ed.mask[12, 12] == 0 and ed.mask[5, 5] == 7
    ed.redo()
    assert ed.mask[12, 12] == 300


def test_cancel_stroke_restores_pixels_and_records_nothing():
    ed = MaskEditor((40, 40))
    ed.dab(20, 20, 5, label=1)
    before = ed.mask.copy()
    ed.begin_stroke(2)
    ed.line(0, 0, 39, 39, 3)
    ed.dab(20, 20, 6, label=3)
    ed.cancel_stroke()
    np.testing.assert_array_equal(ed.mask, before)
    assert ed.undo_depth == 1


def test_bad_input_messages():
    ed = MaskEditor((10, 10))
    with pytest.raises(UserFacingError, match="mode"):
        ed.begin_stroke(1, mode="smear")
    with pytest.raises(UserFacingError, match="label"):
        ed.dab(1, 1, 1, label=70000)
    with pytest.raises(UserFacingError, match="does not match"):
        ed.constrained_dab(np.zeros((5, 5)), 1, 1, 1, 1)
    with pytest.raises(UserFacingError, match="tolerance"):
        ed.fill_intensity(np.zeros((10, 10)), 1, 1, -1, 1)
    assert not ed.mask.any()


def test_disc_footprint_is_cached_and_symmetric():
    d = disc_footprint(5.1)
    assert d is disc_footprint(5.0) and d.shape == (11, 11)
    assert (d == d.T).all() and (d == d[::-1]).all()
    assert disc_footprint(0.3).sum() == 1 and disc_footprint(1).sum() == 5
