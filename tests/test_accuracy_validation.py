"""chainscan.validation: the pieces the accuracy benchmark adds on top of the as-projected comparison —
the intended (standard-camera) truth, the surface-keypoint trunk lean and the quiet-standing check."""

import json

import numpy as np
import pytest

from chainscan import synthetic as syn
from chainscan.validation import _intended, _scenario, evaluate, stats, trunk_lean_2d


def test_trunk_lean_2d_reproduces_the_ground_truth_convention(test_videos):
    gt = json.loads((test_videos / "single_leg_stance_right.gt.json").read_text())
    frames = gt["frames"][::25]
    for f in frames:
        assert trunk_lean_2d(f["joints_2d"]) == pytest.approx(f["trunk_lean_deg"], abs=0.01)
    # the surface convention (COCO shoulders/hips) leans the same way by about the same amount in the hold
    sp = gt["stance_period"]
    mid = gt["frames"][(sp["start_frame"] + sp["end_frame"]) // 2]
    assert mid["trunk_lean_deg"] < -3
    assert trunk_lean_2d(mid["surface_keypoints_2d"]) == pytest.approx(mid["trunk_lean_deg"], abs=1.0)


def test_intended_truth_is_the_standard_camera_value():
    f = {"knee_fppa_left_deg": -22.7, "standard_camera": {"knee_fppa_left_deg": 12.0}}
    assert _intended(f, "knee_fppa_left_deg") == 12.0
    assert _intended({"knee_fppa_left_deg": 8.0}, "knee_fppa_left_deg") == 8.0


def test_sample_clips_are_not_labelled_as_a_grid_body(test_videos):
    gt = json.loads((test_videos / "double_leg_squat.gt.json").read_text())
    assert _scenario(gt)["body"] == "S (1.685 m)"
    assert _scenario({"scenario": {"body_id": "B", "camera_id": "yaw30"}})["body"] == "B"


def _standing_gt(n, surface_dx=0.0):
    sk = {"left_shoulder": [300.0 + surface_dx, 300.0], "right_shoulder": [240.0 + surface_dx, 300.0],
          "left_hip": [290.0, 500.0], "right_hip": [250.0, 500.0]}
    fr = {"pelvic_obliquity_deg": 0.0, "pelvic_obliquity_surface_deg": 0.0, "trunk_lean_deg": 0.0,
          "surface_keypoints_2d": sk}
    return {"test": "neutral_standing", "stance_side": None, "reps": [], "stance_period": None,
            "neutral_frames": [0, 35], "frames": [dict(fr) for _ in range(n)],
            "scenario": {"body_id": "Z", "camera_id": "std", "test": "neutral_standing"}, "split": "holdout"}


def test_quiet_standing_is_scored_as_a_false_positive_check():
    clip = syn.make_standing(duration_s=4.0)
    ev = evaluate("standing", clip.pose, _standing_gt(clip.pose.n_frames))
    assert ev.ok and ev.test_ok and not ev.flagged
    assert "No squat or single-leg stance" in ev.error
    assert len(ev.frame_obl) == clip.pose.n_frames - 36 and len(ev.frame_lean) == clip.pose.n_frames - 36
    assert stats(ev.frame_obl)["worst"] < 1.0 and stats(ev.frame_lean)["worst"] < 1.0
    assert abs(ev.yaw_deg) < 2 and np.isfinite(ev.yaw_deg)


def test_quiet_standing_with_a_tilted_camera_still_reads_level_relative_to_neutral():
    clip = syn.make_standing(duration_s=4.0, obliquity_deg=5.0)
    ev = evaluate("standing", clip.pose, _standing_gt(clip.pose.n_frames))
    assert ev.test_ok and stats(ev.frame_obl)["worst"] < 1.0
