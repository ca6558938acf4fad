"""Segmentation, metrics and rules end to end on synthetic sequences with known answers."""

import dataclasses
import json

import numpy as np
import pytest

from chainscan import synthetic as syn
from chainscan.config import ScreeningConfig
from chainscan.errors import InsufficientData, QualityGateFailed
from chainscan.landmarks import Side
from chainscan.pipeline import neutral_baseline, screen_pose
from chainscan.report.writer import result_json
from chainscan.types import TestType

FRAME_TOL = 6   # frames at 30 fps (0.2 s) for rep boundaries


def _finding(result, code, side=None):
    found = [f for f in result.findings if f.code == code and (side is None or f.side is side)]
    assert found, f"no {code} finding: {[f.code for f in result.findings]}"
    return found[0]


def _reps_match(result, truth_reps):
    got = [(s.start, s.deepest, s.end) for s in result.segmentation.segments]
    assert len(got) == len(truth_reps)
    for (gs, gd, ge), (ts, td, te) in zip(got, truth_reps):
        assert abs(gd - td) <= 2
        assert abs(gs - ts) <= FRAME_TOL + 4 and abs(ge - te) <= FRAME_TOL + 4
        assert gs < gd < ge


@pytest.mark.parametrize("valgus", [(0.0, 0.0), (12.0, 4.0), (-6.0, 10.0)])
def test_double_leg_squat_reps_and_fppa(valgus):
    clip = syn.make_squat(n_reps=4, valgus_deg=valgus, seed=3)
    r = screen_pose(clip.pose)
    assert r.test is TestType.DOUBLE_LEG_SQUAT and r.stance_side is None and r.segmentation.auto_test
    _reps_match(r, clip.truth.reps)
    for seg in r.segmentation.segments:
        assert r.series["knee_fppa_left_deg"][seg.deepest] == pytest.approx(valgus[0], abs=1.0)
        assert r.series["knee_fppa_right_deg"][seg.deepest] == pytest.approx(valgus[1], abs=1.0)
    asym = _finding(r, "knee_asymmetry")
    assert asym.value == pytest.approx(abs(valgus[0] - valgus[1]), abs=1.0)
    assert asym.severity == ("mild" if abs(valgus[0] - valgus[1]) >= 8 else "ok")


def test_double_leg_squat_knees_in_flags_separation():
    r = screen_pose(syn.make_squat(valgus_deg=25.0).pose)
    sep = _finding(r, "knees_inward")
    assert sep.value < 0.8 and sep.severity in ("mild", "marked")
    assert sep.reference == "heuristic"
    assert 0 <= sep.evidence_frame < r.pose.n_frames
    clean = screen_pose(syn.make_squat(valgus_deg=0.0).pose)
    assert _finding(clean, "knees_inward").severity == "ok"


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
def test_single_leg_squat_side_valgus_drop_lean(side):
    clip = syn.make_single_leg_squat(side=side, valgus_deg=18.0, pelvic_drop_deg=7.0, trunk_lean_deg=6.0, seed=1)
    r = screen_pose(clip.pose)
    assert r.test is TestType.SINGLE_LEG_SQUAT and r.stance_side is side
    _reps_match(r, clip.truth.reps)
    assert all(s.side is side for s in r.segmentation.segments)
    v = _finding(r, "knee_valgus", side)
    assert v.value == pytest.approx(18.0, abs=1.0) and v.severity == "marked"
    assert "Herrington" in v.reference and len(v.rep_values) == 3 and v.confidence != "high"
    assert v.evidence_frame in [s.deepest for s in r.segmentation.segments]
    d = _finding(r, "pelvic_drop", side)
    assert d.value == pytest.approx(7.0, abs=1.0) and d.severity == "mild" and d.confidence == "low"
    lean = _finding(r, "trunk_lean", side)
    assert lean.value == pytest.approx(6.0, abs=1.0) and lean.severity == "mild"


def test_single_leg_squat_healthy_is_ok():
    r = screen_pose(syn.make_single_leg_squat(valgus_deg=6.0, pelvic_drop_deg=1.0, trunk_lean_deg=1.0).pose)
    assert {f.code: f.severity for f in r.findings} == {"knee_valgus": "ok", "pelvic_drop": "ok", "trunk_lean": "ok"}


@pytest.mark.parametrize("side,touchdowns", [(Side.RIGHT, 0), (Side.LEFT, 2)])
def test_single_leg_stance_side_hold_touchdowns(side, touchdowns):
    clip = syn.make_single_leg_stance(side=side, hold_s=6.0, touchdowns=touchdowns, pelvic_drop_deg=6.0,
                                      trunk_lean_deg=4.0)
    r = screen_pose(clip.pose)
    assert r.test is TestType.SINGLE_LEG_STANCE and r.stance_side is side
    (st,) = r.segmentation.stance_stats
    assert st.touchdowns == touchdowns
    assert st.hold_s == pytest.approx(clip.truth.hold_s, abs=0.5)
    assert _finding(r, "pelvic_drop", side).value == pytest.approx(6.0, abs=1.0)
    assert _finding(r, "trunk_lean", side).value == pytest.approx(4.0, abs=1.0)
    hold = _finding(r, "balance_hold_short", side)
    assert hold.unit == "s" and hold.severity == "mild"


def test_overrides_test_and_side():
    clip = syn.make_single_leg_squat(side=Side.LEFT)
    r = screen_pose(clip.pose, test=TestType.SINGLE_LEG_STANCE)
    assert r.test is TestType.SINGLE_LEG_STANCE and not r.segmentation.auto_test
    r2 = screen_pose(clip.pose, side=Side.LEFT)
    assert r2.stance_side is Side.LEFT
    with pytest.raises(InsufficientData, match="right leg"):
        screen_pose(clip.pose, side=Side.RIGHT)


def test_thresholds_are_data_and_copied_into_result():
    clip = syn.make_single_leg_squat(valgus_deg=12.0)
    assert _finding(screen_pose(clip.pose), "knee_valgus").severity == "ok"
    cfg = ScreeningConfig().with_overrides({"thresholds": {"fppa_sls_mild": 10.0}})
    r = screen_pose(clip.pose, cfg)
    f = _finding(r, "knee_valgus")
    assert f.severity == "mild" and f.threshold == 10.0
    assert r.to_dict()["config"]["thresholds"]["fppa_sls_mild"]["value"] == 10.0


def test_camera_roll_is_removed_by_the_baseline():
    """A tilted camera adds the same angle to every frame: the neutral baseline takes it out."""
    clip = syn.make_single_leg_stance(side=Side.RIGHT, pelvic_drop_deg=6.0)
    c = clip.pose.coords.astype(np.float64).copy()
    ang = np.radians(3.0)
    cx, cy = 360.0, 640.0
    x, y = c[..., 0] - cx, c[..., 1] - cy
    c[..., 0], c[..., 1] = cx + x * np.cos(ang) - y * np.sin(ang), cy + x * np.sin(ang) + y * np.cos(ang)
    pose = dataclasses.replace(clip.pose, coords=c.astype(np.float32))
    r = screen_pose(pose)
    assert abs(r.baseline.pelvic_obliquity_deg) == pytest.approx(3.0, abs=0.5)
    assert _finding(r, "pelvic_drop").value == pytest.approx(6.0, abs=1.0)


def test_separate_baseline_clip():
    stand = syn.make_standing()
    base = neutral_baseline(stand.pose)
    assert base.source == "separate"
    clip = syn.make_single_leg_stance(stand_s=0.0, pelvic_drop_deg=5.0)
    p = clip.pose
    n = p.n_frames - 40  # cut the standing at the end: no quiet standing left in the clip
    pose = dataclasses.replace(p, coords=p.coords[:n], visibility=p.visibility[:n], world=p.world[:n],
                               timestamps=p.timestamps[:n], frame_indices=p.frame_indices[:n])
    r = screen_pose(pose, baseline=base)
    assert r.baseline.source == "separate"
    assert _finding(r, "pelvic_drop").value == pytest.approx(5.0, abs=1.0)
    no_base = screen_pose(pose)
    gate = next(g for g in no_base.quality if g.gate == "neutral_baseline")
    assert not gate.passed and "stand still" in gate.message


def test_side_view_is_refused():
    with pytest.raises(QualityGateFailed, match="side view") as e:
        screen_pose(syn.make_squat(yaw_deg=85).pose)
    gates = {g.gate: g for g in e.value.gates}
    assert not gates["frontal_view"].passed and gates["frontal_view"].blocking


def test_back_view_is_refused():
    with pytest.raises(QualityGateFailed, match="face away"):
        screen_pose(syn.make_squat(back=True).pose)


def test_oblique_view_lowers_confidence():
    r = screen_pose(syn.make_single_leg_squat(yaw_deg=50, valgus_deg=15).pose)
    gate = next(g for g in r.quality if g.gate == "frontal_view")
    assert not gate.passed and not gate.blocking and "square" in gate.message
    assert _finding(r, "knee_valgus").confidence == "low"


def test_gap_in_tracking_is_bridged_or_reported():
    clip = syn.make_squat(dropout=(100, 105))
    r = screen_pose(clip.pose)
    assert len(r.segmentation.segments) == 3
    clip2 = syn.make_squat(dropout=(0, 250))
    with pytest.raises(QualityGateFailed, match="tracked"):
        screen_pose(clip2.pose)


def test_no_movement_is_reported():
    with pytest.raises(InsufficientData, match="No squat or single-leg stance"):
        screen_pose(syn.make_standing().pose)


def test_result_json_contract():
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parents[1] / "docs" / "result.schema.json").read_text())
    for clip in (syn.make_squat(), syn.make_single_leg_squat(), syn.make_single_leg_stance()):
        d = json.loads(result_json(screen_pose(clip.pose)))
        jsonschema.validate(d, schema)
        assert d["schema_version"].startswith("1.")
        assert d["test"] == clip.truth.test.value
        assert d["stance_side"] == (clip.truth.stance_side.value if clip.truth.stance_side else None)
        for rep in d["reps"]:
            assert rep["start_s"] <= rep["deepest_s"] <= rep["end_s"]
            assert set(rep["left"]) >= {"knee_fppa_deg"} and set(rep["right"]) >= {"knee_fppa_deg"}
        assert {q["gate"] for q in d["quality"]} >= {"full_body", "frontal_view", "distance", "valid_frames",
                                                   "frame_rate", "single_person"}
        assert d["measurement_error"]["knee_fppa_sem_deg"] == 3.0
        assert "not a diagnosis" in d["disclaimer"]


def test_reanalysis_is_deterministic():
    clip = syn.make_single_leg_squat()
    a = screen_pose(clip.pose).to_dict()
    b = screen_pose(clip.pose).to_dict()
    for d in (a, b):
        d.pop("created")
    assert a == b


def _shifted(pose, dy):
    c = pose.coords.copy()
    c[..., 1] += dy
    return dataclasses.replace(pose, coords=c)


def test_feet_out_of_the_picture_is_reported():
    clip = syn.make_squat()
    r = screen_pose(_shifted(clip.pose, 150))          # feet below the bottom edge, legs still in view
    gate = next(g for g in r.quality if g.gate == "full_body")
    assert not gate.passed and not gate.blocking and "feet" in gate.message and "camera back" in gate.message
    with pytest.raises(QualityGateFailed, match="outside the picture"):
        screen_pose(_shifted(clip.pose, 450))          # knees and ankles out: nothing to measure


def test_small_subject_and_low_frame_rate_are_reported():
    clip = syn.make_squat(fps=20)
    c = clip.pose.coords.copy()
    c[..., :2] = c[..., :2] * 0.3 + [250, 500]          # a person far away in the picture
    r = screen_pose(dataclasses.replace(clip.pose, coords=c))
    gates = {g.gate: g for g in r.quality}
    assert not gates["distance"].passed and "move closer" in gates["distance"].message
    assert not gates["frame_rate"].passed and "30 frames/s" in gates["frame_rate"].message
    assert all(f.confidence != "high" for f in r.findings)


def _concat(*poses):
    """Join synthetic clips end to end (timestamps continue)."""
    first = poses[0]
    dt = 1.0 / first.meta.fps
    ts, fis, off_t, off_f = [], [], 0.0, 0
    for p in poses:
        ts.append(p.timestamps + off_t)
        fis.append(p.frame_indices + off_f)
        off_t = ts[-1][-1] + dt
        off_f = fis[-1][-1] + 1
    return dataclasses.replace(
        first, coords=np.concatenate([p.coords for p in poses]),
        visibility=np.concatenate([p.visibility for p in poses]), world=np.concatenate([p.world for p in poses]),
        timestamps=np.concatenate(ts), frame_indices=np.concatenate(fis))


def test_both_legs_in_one_clip_gives_per_side_findings_and_asymmetry():
    left = syn.make_single_leg_squat(side=Side.LEFT, valgus_deg=20.0, pelvic_drop_deg=7.0, seed=1)
    right = syn.make_single_leg_squat(side=Side.RIGHT, valgus_deg=6.0, pelvic_drop_deg=1.0, seed=2)
    r = screen_pose(_concat(left.pose, right.pose))
    assert r.test is TestType.SINGLE_LEG_SQUAT and r.stance_side is None
    assert [s.side for s in r.segmentation.segments] == [Side.LEFT] * 3 + [Side.RIGHT] * 3
    assert _finding(r, "knee_valgus", Side.LEFT).value == pytest.approx(20, abs=1)
    assert _finding(r, "knee_valgus", Side.RIGHT).value == pytest.approx(6, abs=1)
    asym = _finding(r, "knee_asymmetry")
    assert asym.side is Side.LEFT and asym.value == pytest.approx(14, abs=1.5) and asym.severity == "mild"
    d = _finding(r, "pelvic_drop_asymmetry")
    assert d.value == pytest.approx(6, abs=1.5) and d.side is Side.LEFT
    assert {s.side for s in r.segmentation.stance_stats} == {Side.LEFT, Side.RIGHT}
    assert r.to_dict()["stance_side"] is None


def test_implausible_double_leg_asymmetry_is_not_a_finding():
    """A wildly wrong knee angle (a bad view) must not become a 'left-right difference' finding."""
    clip = syn.make_squat()
    c = clip.pose.coords.copy()
    for seg_deep in (74, 149, 224):            # throw the left knee far to the side at the deepest frames
        c[seg_deep - 12:seg_deep + 13, 25, 0] += 150
    r = screen_pose(dataclasses.replace(clip.pose, coords=c), ScreeningConfig().with_overrides(
        {"signal": {"spike_tolerance": 5.0}}))
    asym = _finding(r, "knee_asymmetry")
    assert asym.severity == "unknown" and "not measurable" in asym.message and asym.confidence == "low"


def test_baseline_clip_from_behind_is_refused_and_refusals_carry_the_pose():
    with pytest.raises(QualityGateFailed, match="baseline") as e:
        neutral_baseline(syn.make_squat(back=True).pose)
    assert e.value.pose is not None
    side = syn.make_squat(yaw_deg=85)
    with pytest.raises(QualityGateFailed) as e2:
        screen_pose(side.pose)
    assert e2.value.pose is side.pose


def _every_second_frame(pose):
    k = slice(None, None, 2)
    return dataclasses.replace(pose, coords=pose.coords[k].copy(), visibility=pose.visibility[k].copy(),
                               world=pose.world[k].copy(), timestamps=pose.timestamps[k].copy(),
                               frame_indices=pose.frame_indices[k].copy())


def test_frame_rate_gate_judges_the_recording_not_the_analysed_rate():
    thinned = _every_second_frame(syn.make_squat(fps=30).pose)  # what --max-fps 15 stores in pose.npz
    assert thinned.fps == pytest.approx(15)
    gate = next(g for g in screen_pose(thinned).quality if g.gate == "frame_rate")
    assert gate.passed and gate.value == pytest.approx(30)
    assert "Recorded at 30 frames/s" in gate.message and "analysed at only 15" in gate.message
    assert "only 15 frames/s" not in gate.message.split("but")[0]
    # a clip really recorded at 15 frames/s fails, thinned or not
    for pose in (syn.make_squat(fps=15).pose, _every_second_frame(syn.make_squat(fps=15, n_reps=4).pose)):
        gate = next(g for g in screen_pose(pose).quality if g.gate == "frame_rate")
        assert not gate.passed and "recorded at only" in gate.message


def test_no_test_recognised_names_the_failed_recording_gate_first():
    pose = syn.make_standing(duration_s=4.0).pose
    with pytest.raises(InsufficientData) as plain:
        screen_pose(pose)
    assert str(plain.value).startswith("No squat or single-leg stance was recognised")
    crowded = dataclasses.replace(pose, extra={"other_people_checks": 5, "other_people_found": 3})
    with pytest.raises(QualityGateFailed) as e:
        screen_pose(crowded)
    msg = str(e.value)
    assert msg.startswith("Another person was seen in 3 of 5 checked frames")
    assert "probably why no squat or single-leg stance was recognised" in msg
    assert {g.gate for g in e.value.gates if not g.passed} >= {"single_person"} and e.value.pose is crowded
