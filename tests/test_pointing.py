"""Pointing games: white-box (paper 002, Sec. 4.1), temporal (paper 002, Sec. 4.2) and the
bounding-box game with a 7-pixel tolerance (paper 004, Sec. V-H), on constructed masks."""
import numpy as np
import pytest

from vidxai import ArgumentError, ArgumentTypeError
from vidxai.metrics import (PointingResult, pointing_game, temporal_pointing_game,
                            whitebox_pointing_ceiling, whitebox_pointing_game)

T, H, W = 4, 8, 8
TRUTH = np.zeros((T, H, W), bool)
TRUTH[:, :4, :4] = True  # A: the top-left quarter of every frame


def test_whitebox_all_inside_is_100():
    mask = np.zeros((T, H, W))
    mask[:, 1:3, 1:3] = 1.0
    assert whitebox_pointing_game(mask, TRUTH) == 100.0


def test_whitebox_all_outside_is_minus_100():
    mask = np.zeros((T, H, W))
    mask[:, 5:, 5:] = 0.9
    assert whitebox_pointing_game(mask, TRUTH) == -100.0


def test_whitebox_half_in_half_out_is_0():
    mask = np.zeros((T, H, W))
    mask[:, :4, :4] = 1.0   # 16 inside per frame
    mask[:, 4:, 4:] = 1.0   # 16 outside per frame
    assert whitebox_pointing_game(mask, TRUTH) == 0.0


def test_whitebox_three_quarters_inside_is_50():
    mask = np.zeros((T, H, W))
    mask[:3, :4, :4] = 1.0  # 3 frames x 16 inside
    mask[3, 4:, 4:] = 1.0   # 1 frame x 16 outside
    assert whitebox_pointing_game(mask, TRUTH) == pytest.approx(50.0)


def test_whitebox_threshold_and_empty_highlight():
    mask = np.zeros((T, H, W))
    mask[:, :4, :4] = 0.7
    mask[:, 4:, 4:] = 0.3   # below 0.5: not highlighted
    assert whitebox_pointing_game(mask, TRUTH) == 100.0
    assert whitebox_pointing_game(mask, TRUTH, threshold=0.2) == 0.0
    score = whitebox_pointing_game(np.zeros((T, H, W)), TRUTH)
    assert score == 0.0 and np.isfinite(score)
    assert whitebox_pointing_game(mask, TRUTH.astype(np.uint8)) == 100.0  # 0/1 truth


def test_whitebox_top_fraction_highlights_the_largest_values():
    """top=0.25 of 256 voxels = 64 highlighted: the 48 largest values lie in A (0.9), the
    next 40 tie at 0.6 (24 outside A, 16 inside) and share the last 16 places, 16/40 each:
    inside = 48 + 16 * 16/40 = 54.4 -> (2 * 54.4 - 64) / 64 = 70 %. A threshold of 0.5 would
    count all 88 (64 inside, 24 outside: 45.45 %). catches: ties all highlighted, or broken
    by voxel order; top ignored in favour of the threshold."""
    mask = np.zeros((T, H, W))
    inside = np.argwhere(TRUTH)
    outside = np.argwhere(~TRUTH)
    for t, y, x in inside[:48]:
        mask[t, y, x] = 0.9
    for t, y, x in inside[48:]:
        mask[t, y, x] = 0.6
    for t, y, x in outside[:24]:
        mask[t, y, x] = 0.6
    assert whitebox_pointing_game(mask, TRUTH, top=0.25) == pytest.approx(70.0)
    assert whitebox_pointing_game(mask, TRUTH) == pytest.approx(100 * (64 - 24) / 88)
    assert whitebox_pointing_game(mask[:, ::-1], TRUTH[:, ::-1], top=0.25) == pytest.approx(70.0)
    with pytest.raises(ArgumentError, match="^top:"):
        whitebox_pointing_game(mask, TRUTH, top=0.0)
    with pytest.raises(ArgumentError, match="^top:"):
        whitebox_pointing_game(mask, TRUTH, top=0.1, threshold=0.5)


def test_whitebox_ceiling_is_the_geometric_cap():
    """Paper 002 highlights the top 10%: with A = 9.5% of the voxels at most 95 of every 100
    highlighted voxels are inside, (95 - 5) / 100 = 90 % - its gentle ceiling; A >= 10% can
    reach 100. catches: the cap computed from the area fraction instead of the counts."""
    truth = np.zeros(1000, bool)
    truth[:95] = True
    assert whitebox_pointing_ceiling(truth, 0.1) == pytest.approx(90.0)
    truth[:100] = True
    assert whitebox_pointing_ceiling(truth, 0.1) == 100.0
    assert whitebox_pointing_ceiling(TRUTH, 0.5) == 0.0        # A is a quarter: 64 of 128


def test_temporal_all_in_signature_frames_is_100():
    mask = np.zeros((T, H, W))
    mask[1:3] = 0.5
    assert temporal_pointing_game(mask, [1, 2]) == 100.0
    assert temporal_pointing_game(mask, np.array([False, True, True, False])) == 100.0
    assert temporal_pointing_game(mask, [0, 3]) == 0.0


def test_temporal_share_of_kept_mass():
    mask = np.zeros((T, H, W))
    mask[0, :2, :2] = 1.0   # 4 kept voxels in frame 0
    mask[2, :2] = 1.0       # 16 kept voxels in frame 2
    assert temporal_pointing_game(mask, [2]) == pytest.approx(80.0)
    assert temporal_pointing_game(mask, [0]) == pytest.approx(20.0)
    # A soft mask counts its mass; a (T,) per-frame mass works too.
    assert temporal_pointing_game(np.array([1.0, 0.0, 3.0, 0.0]), [2]) == pytest.approx(75.0)
    score = temporal_pointing_game(np.zeros((T, H, W)), [1])
    assert score == 0.0 and np.isfinite(score)
    assert temporal_pointing_game(mask, []) == 0.0


def test_pointing_game_hits_misses_and_tolerance():
    sal = np.zeros((T, 32, 32))
    sal[0, 10, 10] = 1.0    # inside the box
    sal[1, 10, 25] = 1.0    # 5 px right of the box: within 7
    sal[2, 10, 29] = 1.0    # 9 px right of the box: miss
    sal[3, 0, 0] = 1.0      # frame without annotation
    box = [5, 5, 15, 20]
    boxes = np.array([box, box, box, [np.nan] * 4])
    res = pointing_game(sal, boxes)
    assert isinstance(res, PointingResult)
    np.testing.assert_array_equal(res.hits, [True, True, False, False])
    np.testing.assert_array_equal(res.annotated, [True, True, True, False])
    assert res.rate == pytest.approx(200.0 / 3.0)
    rate, hits, annotated = pointing_game(sal, boxes, tolerance=0)
    assert rate == pytest.approx(100.0 / 3.0)
    assert pointing_game(sal, boxes, tolerance=9).rate == 100.0
    # -1 rows are unannotated too; a diagonal distance uses the Euclidean norm.
    sal2 = np.zeros((2, 32, 32))
    sal2[0, 20, 25] = 1.0   # 5 below and 5 right of the corner (15, 20): 7.07 px
    boxes2 = np.array([box, [-1, -1, -1, -1]])
    assert pointing_game(sal2, boxes2).rate == 0.0
    assert pointing_game(sal2, boxes2, tolerance=7.1).rate == 100.0
    # One (H, W) frame with one box.
    assert pointing_game(sal[0], box).rate == 100.0


def test_pointing_game_ties_take_the_first_maximum():
    sal = np.ones((1, 16, 16))           # flat map: the first pixel (0, 0) is the maximum
    assert pointing_game(sal, [[0, 0, 1, 1]], tolerance=0).rate == 100.0
    assert pointing_game(sal, [[10, 10, 12, 12]]).rate == 0.0


@pytest.mark.parametrize("call, error, argument", [
    (lambda: whitebox_pointing_game(np.zeros((T, H, W)), TRUTH[:2]), ArgumentError, "truth"),
    (lambda: whitebox_pointing_game(np.zeros((T, H, W)), np.full((T, H, W), 2)),
     ArgumentTypeError, "truth"),
    (lambda: whitebox_pointing_game(np.full((T, H, W), np.nan), TRUTH), ArgumentError, "mask"),
    (lambda: whitebox_pointing_game("mask", TRUTH), ArgumentTypeError, "mask"),
    (lambda: whitebox_pointing_game(np.zeros((T, H, W)), TRUTH, threshold="x"),
     ArgumentTypeError, "threshold"),
    (lambda: temporal_pointing_game(np.zeros((T, H, W)), [T]), ArgumentError, "signature_frames"),
    (lambda: temporal_pointing_game(np.zeros((T, H, W)), [-1]), ArgumentError, "signature_frames"),
    (lambda: temporal_pointing_game(np.zeros((T, H, W)), np.ones(T + 1, bool)), ArgumentError,
     "signature_frames"),
    (lambda: temporal_pointing_game(np.zeros((T, H, W)), [0.5]), ArgumentTypeError,
     "signature_frames"),
    (lambda: temporal_pointing_game(-np.ones((T, H, W)), [0]), ArgumentError, "mask"),
    (lambda: temporal_pointing_game(np.zeros((0, H, W)), [0]), ArgumentError, "mask"),
    (lambda: pointing_game(np.zeros((T, H, W)), np.zeros((T - 1, 4))), ArgumentError, "boxes"),
    (lambda: pointing_game(np.zeros((T, H, W)), np.full((T, 4), np.nan)), ArgumentError, "boxes"),
    (lambda: pointing_game(np.zeros((T, H, W)), np.tile([5, 5, 1, 1], (T, 1))), ArgumentError,
     "boxes"),
    (lambda: pointing_game(np.zeros((H, W)), np.zeros((T, 4))), ArgumentError, "saliency"),
    (lambda: pointing_game(np.zeros((T, H, W)), np.zeros((T, 4)), tolerance=-1), ArgumentError,
     "tolerance"),
    (lambda: pointing_game(np.zeros((T, H, W)), "boxes"), ArgumentTypeError, "boxes"),
])
def test_bad_input_names_the_argument(call, error, argument):
    with pytest.raises(error, match=rf"^{argument}:"):
        call()


def test_boxes_reject_inverted_rows_and_accept_single_pixel_columns():
    """y1 < y0 is an error whatever x0 is (catches: comparing y1 with x0); a box one pixel
    wide (x1 == x0) is a valid box (catches: a strict comparison)."""
    sal = np.zeros((1, 10, 10))
    with pytest.raises(ArgumentError, match="boxes"):
        pointing_game(sal, [[5, 2, 3, 9]])          # y1 = 3 < y0 = 5, but y1 > x0
    sal[0, 4, 6] = 1.0
    result = pointing_game(sal, [[0, 6, 9, 6]])      # a one-pixel-wide column
    assert result.rate == 100.0
