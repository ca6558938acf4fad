"""The real MediaPipe model end to end on the rendered clips in test_videos/ (with exact ground truth).

These pin what the pipeline gets right on rendered people today: test type, stance side, rep count
and timing, valgus direction, trunk lean, refusal of side views. Accuracy against ground truth (MediaPipe
reads FPPA low and barely follows a rendered pelvic drop) is measured by the accuracy benchmark.
"""

import json

import numpy as np
import pytest

from chainscan.errors import QualityGateFailed
from chainscan.landmarks import Side
from chainscan.pipeline import screen_video
from chainscan.types import TestType

pytestmark = pytest.mark.model

FRONTAL = ["double_leg_squat", "single_leg_squat_left_valgus", "single_leg_stance_right"]


def _gt(test_videos, name):
    return json.loads((test_videos / f"{name}.gt.json").read_text())


@pytest.fixture(scope="module")
def screened(test_videos):
    out = {}
    for name in FRONTAL:
        result, pose = screen_video(test_videos / f"{name}.mp4")
        out[name] = result
    return out


@pytest.mark.parametrize("name", FRONTAL)
def test_model_detects_the_person_and_the_test(screened, test_videos, name):
    r = screened[name]
    gt = _gt(test_videos, name)
    assert r.pose.detected.mean() > 0.95
    assert r.pose.n_frames == gt["n_frames"]
    assert r.pose.meta.width == gt["width"] and r.pose.meta.height == gt["height"]
    assert r.test is TestType(gt["test"])
    assert (r.stance_side.value if r.stance_side else None) == gt["stance_side"]
    blocking = [g for g in r.quality if g.blocking and not g.passed]
    assert not blocking
    assert next(g for g in r.quality if g.gate == "frontal_view").passed
    assert next(g for g in r.quality if g.gate == "neutral_baseline").passed


@pytest.mark.parametrize("name", ["double_leg_squat", "single_leg_squat_left_valgus"])
def test_reps_match_ground_truth(screened, test_videos, name):
    r = screened[name]
    gt_reps = _gt(test_videos, name)["reps"]
    segs = r.segmentation.segments
    assert len(segs) == len(gt_reps)
    fi = r.pose.frame_indices
    for seg, g in zip(segs, gt_reps):
        assert abs(int(fi[seg.deepest]) - g["deepest_frame"]) <= 4
        assert abs(int(fi[seg.start]) - g["start_frame"]) <= 9
        assert abs(int(fi[seg.end]) - g["end_frame"]) <= 9
        assert seg.complete


def test_single_leg_squat_valgus_direction(screened, test_videos):
    r = screened["single_leg_squat_left_valgus"]
    gt = _gt(test_videos, "single_leg_squat_left_valgus")
    f = next(x for x in r.findings if x.code == "knee_valgus")
    assert f.side is Side.LEFT
    gt_deep = np.mean([gt["frames"][g["deepest_frame"]]["knee_fppa_left_deg"] for g in gt["reps"]])
    # MediaPipe reads this rendered valgus ~4° low (test_videos/README.md), within the FPPA error that
    # docs/validation.md reports (worst ~6–7°); the bundled sample must still show its knee collapse as flagged
    assert gt_deep - 6.5 <= f.value <= gt_deep + 3
    assert f.severity in ("mild", "marked") and f.confidence != "high"
    standing = r.series["knee_fppa_left_deg"][: r.baseline.end]
    assert f.value > np.nanmean(standing) + 5


def test_single_leg_stance_trunk_lean_and_hold(screened, test_videos):
    r = screened["single_leg_stance_right"]
    gt = _gt(test_videos, "single_leg_stance_right")
    lean = next(x for x in r.findings if x.code == "trunk_lean")
    sp = gt["stance_period"]
    gt_lean = -np.median([f["trunk_lean_deg"] for f in gt["frames"][sp["start_frame"]:sp["end_frame"]]])
    assert lean.value == pytest.approx(gt_lean, abs=1.5)
    (stats,) = r.segmentation.stance_stats
    assert stats.side is Side.RIGHT and stats.touchdowns == 0
    assert stats.hold_s == pytest.approx((sp["end_frame"] - sp["start_frame"]) / gt["fps"], abs=0.7)


@pytest.mark.parametrize("name", FRONTAL)
def test_frontal_clips_are_not_taken_for_turned(screened, name):
    """The yaw check (chainscan.view) must not refuse square-on clips: they read +4…+6° (threshold 20°)."""
    from chainscan.view import body_yaw_deg

    r = screened[name]
    assert abs(body_yaw_deg(r.clean)) < 10
    assert not any(f.message.startswith("Not measurable from this view") for f in r.findings)


def test_missed_pelvic_drop_is_not_called_level(screened):
    """Truth +6° drop, MediaPipe reads about −3.5°: the finding must say the drop cannot be ruled out."""
    f = next(x for x in screened["single_leg_stance_right"].findings if x.code == "pelvic_drop")
    assert f.confidence == "low" and f.value < 0
    assert "no drop was measured, but that does not show the pelvis was held level" in f.message
    assert ", held level." not in f.message


def test_side_view_is_refused(test_videos):
    with pytest.raises(QualityGateFailed, match="side view"):
        screen_video(test_videos / "side_view_squat.mp4")


def test_two_people_are_reported(test_videos):
    path = test_videos / "two_people.mp4"
    if not path.exists() or path.stat().st_size < 10_000:
        pytest.skip("two_people.mp4 not rendered")
    from chainscan.extract import extract_pose
    from chainscan.io.pose import make_estimator
    from chainscan.quality import single_person_gate

    est = make_estimator()
    try:
        pose = extract_pose(path, est)
    finally:
        est.close()
    gate = single_person_gate(pose)
    assert not gate.passed and "Another person" in gate.message


# ---- accuracy pinned against the ground truth (benchmarks/accuracy.py measures the same on a grid) ----
# Tolerances sit a little above today's values (docs/validation.md) so that a change making them worse fails.


@pytest.fixture(scope="module")
def evals(screened, test_videos):
    from chainscan.validation import evaluate

    return {name: evaluate(name, screened[name].pose, _gt(test_videos, name)) for name in FRONTAL}


def test_fppa_accuracy_on_committed_clips(evals):
    from chainscan.validation import stats

    trip = evals["single_leg_squat_left_valgus"].fppa + evals["double_leg_squat"].fppa
    assert len(trip) == 9
    surface, joint = stats(trip, surface=True), stats(trip)
    assert joint["mae"] <= 3.0 and joint["worst"] <= 5.5, joint         # today 2.3 / 4.4 (target MAE ≤ 3°)
    assert surface["mae"] <= 4.5 and surface["worst"] <= 6.5, surface   # today 3.8 / 5.7
    sep = stats(evals["double_leg_squat"].sep)
    assert sep["worst"] <= 0.1, sep                                      # today 0.08


def test_trunk_lean_accuracy_on_committed_clips(evals):
    from chainscan.validation import stats

    frame = stats(evals["single_leg_stance_right"].frame_lean)
    assert frame["mae"] <= 0.8 and frame["worst"] <= 2.5, frame         # today 0.4 / 1.6
    (hold,) = evals["single_leg_stance_right"].lean
    assert abs(hold[2] - hold[0]) <= 1.0


def test_pelvic_obliquity_known_weakness_is_pinned(evals):
    """MediaPipe's hip line does not follow the rendered pelvic drop (see docs/validation.md). Pin today's
    per-frame error so it cannot silently get worse; tighten when the pelvis estimate improves."""
    from chainscan.validation import stats

    frame = stats(evals["single_leg_stance_right"].frame_obl)
    assert frame["mae"] <= 7.5, frame                                    # today 7.0 (truth +6°, read −3.4°)


def test_accuracy_benchmark_runs(test_videos, tmp_path):
    """benchmarks/accuracy.py end to end on one committed clip (a benchmark: checked to run, not timed)."""
    import importlib.util
    import shutil
    from pathlib import Path

    clips = tmp_path / "clips"
    clips.mkdir()
    for suffix in (".mp4", ".gt.json"):
        shutil.copy(test_videos / f"single_leg_stance_right{suffix}", clips)
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "v.md"
    assert mod.main(["--clips", str(clips), "--cache", str(tmp_path / "cache"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "stance side right in 1/1" in text and "ipsilateral trunk lean" in text
