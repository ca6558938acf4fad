"""Pure geometry: known angles, sign conventions, and left/right mirror symmetry."""

import numpy as np
import pytest

from chainscan import geometry as g
from chainscan.landmarks import LR_PAIRS, MIRROR_PERMUTATION, Landmark, Side, joint, mirror


def _leg(side: Side, knee_shift_medial: float):
    """Left leg drawn on the image right (x≈400), right leg on the image left (x≈200); y down."""
    x = 400.0 if side is Side.LEFT else 200.0
    medial = -1.0 if side is Side.LEFT else 1.0
    hip, ankle = np.array([x, 100.0]), np.array([x, 500.0])
    knee = np.array([x + medial * knee_shift_medial, 300.0])
    return hip, knee, ankle


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
def test_fppa_known_angle_and_sign(side):
    # knee moved medially by 200*tan(10°) on a symmetric leg → each segment deviates 10°, FPPA = 20°
    shift = 200 * np.tan(np.radians(10))
    assert g.compute_fppa(*_leg(side, shift), side) == pytest.approx(20.0, abs=1e-9)
    assert g.compute_fppa(*_leg(side, -shift), side) == pytest.approx(-20.0, abs=1e-9)
    assert g.compute_fppa(*_leg(side, 0.0), side) == pytest.approx(0.0, abs=1e-9)


def test_fppa_mirror_symmetry_random():
    rng = np.random.default_rng(1)
    hip, knee, ankle = (rng.normal(0, 50, (100, 2)) + [300, y] for y in (100, 300, 500))
    left = g.compute_fppa(hip, knee, ankle, Side.LEFT)
    flip = np.array([-1.0, 1.0])
    right_mirrored = g.compute_fppa(hip * flip, knee * flip, ankle * flip, Side.RIGHT)
    np.testing.assert_allclose(left, right_mirrored, atol=1e-9)


def test_fppa_broadcasts_and_propagates_nan():
    hip = np.zeros((3, 4, 2)) + [0, 0]
    knee = np.zeros((3, 4, 2)) + [0, 1]
    ankle = np.zeros((3, 4, 2)) + [0, 2]
    knee[1, 2] = np.nan
    out = g.compute_fppa(hip, knee, ankle, Side.LEFT)
    assert out.shape == (3, 4)
    assert np.isnan(out[1, 2]) and np.nansum(np.abs(out)) == 0


def test_interior_angle_2d_3d():
    assert g.interior_angle([1, 0], [0, 0], [0, 1]) == pytest.approx(90)
    assert g.interior_angle([1, 0, 0], [0, 0, 0], [-1, 0, 0]) == pytest.approx(180)
    assert g.knee_flexion([0, 1, 0], [0, 0, 0], [0, -1, 0]) == pytest.approx(0)
    assert g.knee_flexion([0, 1, 0], [0, 0, 0], [1, 0, 0]) == pytest.approx(90)


def test_pelvic_obliquity_sign():
    # facing the camera: subject's left hip on the image right
    left_lower = g.pelvic_obliquity(np.array([400.0, 310.0]), np.array([300.0, 300.0]))
    assert left_lower == pytest.approx(np.degrees(np.arctan2(10, 100)))
    assert g.pelvic_obliquity(np.array([400.0, 290.0]), np.array([300.0, 300.0])) < 0
    # the sign does not depend on which hip is further right (back view, mirrored image)
    assert g.pelvic_obliquity(np.array([300.0, 310.0]), np.array([400.0, 300.0])) == pytest.approx(left_lower)


def test_trunk_lean_sign():
    lh, rh = np.array([360.0, 600.0]), np.array([280.0, 600.0])  # subject's left on the image right
    up = 250.0
    toward_left = g.trunk_lean(lh, rh, lh + [20, -up], rh + [20, -up])
    assert toward_left == pytest.approx(np.degrees(np.arctan2(20, up)))
    assert g.trunk_lean(lh, rh, lh + [-20, -up], rh + [-20, -up]) == pytest.approx(-toward_left)
    # mirrored image (x → −x) with the labels following the body: same lean
    flip = np.array([-1.0, 1.0])
    assert g.trunk_lean(lh * flip, rh * flip, (lh + [20, -up]) * flip, (rh + [20, -up]) * flip) == \
        pytest.approx(toward_left)


def test_hip_adduction_sign_and_mirror():
    lh, rh = np.array([400.0, 300.0]), np.array([300.0, 300.0])
    assert g.hip_adduction(lh, rh, np.array([400.0, 500.0])) == pytest.approx(0, abs=1e-9)
    add = g.hip_adduction(lh, rh, np.array([380.0, 500.0]))       # left knee toward the midline
    assert add == pytest.approx(np.degrees(np.arctan2(20, 200)))
    assert g.hip_adduction(rh, lh, np.array([320.0, 500.0])) == pytest.approx(add)  # right mirror
    assert g.hip_adduction(lh, rh, np.array([420.0, 500.0])) < 0


def test_knee_over_foot_and_separation():
    # left knee 10 px medial (image −x) of the toe, shank 200 px
    v = g.knee_over_foot_offset(np.array([390.0, 300.0]), np.array([400.0, 500.0]), np.array([400.0, 520.0]),
                                Side.LEFT)
    assert v == pytest.approx(10 / np.hypot(10, 200))
    v_r = g.knee_over_foot_offset(np.array([210.0, 300.0]), np.array([200.0, 500.0]), np.array([200.0, 520.0]),
                                  Side.RIGHT)
    assert v_r == pytest.approx(v)
    r = g.separation_ratio(np.array([380.0, 0]), np.array([220.0, 0]), np.array([400.0, 0]), np.array([200.0, 0]))
    assert r == pytest.approx(160 / 200)


def test_landmark_mirror_tables():
    for left, right in LR_PAIRS:
        assert left.name.replace("LEFT", "RIGHT") == right.name
        assert mirror(left) is right and mirror(right) is left
    assert mirror(Landmark.NOSE) is Landmark.NOSE
    assert sorted(MIRROR_PERMUTATION) == list(range(33))
    for name in ("hip", "knee", "ankle", "heel", "foot_index", "shoulder"):
        assert mirror(joint(name, Side.LEFT)) is joint(name, Side.RIGHT)
    assert Side.LEFT.other is Side.RIGHT
