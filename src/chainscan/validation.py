"""Comparing chainscan with exact ground truth (rendered clips, see test_videos/README.md).

Used by benchmarks/accuracy.py and by the tests that pin accuracy. Ground-truth files follow the format
of ``test_videos/*.gt.json``: per frame the joint-centre and surface-keypoint conventions of knee FPPA
and pelvic obliquity, the trunk lean, plus rep boundaries, stance period, neutral frames and stance side.
All angles use chainscan's sign conventions.

Two kinds of truth per angle:
- *as projected*: the angle the camera actually sees (joint centres, or the body model's surface keypoints);
  what a perfect 2D landmark detector would read. Trunk lean's surface convention is computed here from the
  ground truth's surface keypoints (shoulders, hips).
- *intended*: the clinically meant 3D value, i.e. the same motion seen by the standard square-on camera
  (``frames[].standard_camera`` in clips rendered with another camera; equal to the projected value
  otherwise). For a turned or pitched camera the difference is what the view itself costs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import metrics as m
from .config import ScreeningConfig
from .errors import ChainscanError, InsufficientData
from .pipeline import screen_pose
from .signal import clean_pose
from .types import PoseSequence
from .view import body_yaw_deg

#: (truth_joint, truth_surface, measured); numpy floats welcome
Triple = tuple[Any, Any, Any]


@dataclass
class ClipEval:
    name: str
    scenario: dict
    ok: bool = True
    error: str = ""
    test_ok: bool = False
    side_ok: bool = False
    reps_true: int = 0
    reps_found: int = 0
    # (truth_joint, truth_surface, measured) triples
    fppa: list[Triple] = field(default_factory=list)
    drop: list[Triple] = field(default_factory=list)
    lean: list[Triple] = field(default_factory=list)
    frame_obl: list[Triple] = field(default_factory=list)
    frame_lean: list[Triple] = field(default_factory=list)
    sep: list[Triple] = field(default_factory=list)
    # (intended truth, intended truth, measured): the standard square-on camera's value of the same motion
    fppa_int: list[Triple] = field(default_factory=list)
    drop_int: list[Triple] = field(default_factory=list)
    lean_int: list[Triple] = field(default_factory=list)
    yaw_deg: float = float("nan")          # chainscan.view's body-yaw estimate
    view_gate: str = ""                    # "passed" or the frontal-view gate's message
    not_measurable: list[str] = field(default_factory=list)   # finding codes reported "not measurable"
    flagged: list[str] = field(default_factory=list)          # "code (side): severity" of every flagged finding
    seconds: float = 0.0


def _sep(p2: dict) -> float:
    return abs(p2["left_knee"][0] - p2["right_knee"][0]) / abs(p2["left_ankle"][0] - p2["right_ankle"][0])


def trunk_lean_2d(p2: dict) -> float:
    """Trunk lean (°) of 2D points in the ground truth's convention: mid-hip → mid-shoulder against vertical,
    + = shoulders towards the subject's LEFT (image right; y down)."""
    ms = (np.asarray(p2["left_shoulder"], float) + np.asarray(p2["right_shoulder"], float)) / 2
    mh = (np.asarray(p2["left_hip"], float) + np.asarray(p2["right_hip"], float)) / 2
    return float(np.degrees(np.arctan2(ms[0] - mh[0], mh[1] - ms[1])))


def _intended(f: dict, key: str) -> float:
    return float((f.get("standard_camera") or f)[key])


def _scenario(gt: dict) -> dict:
    sc = dict(gt.get("scenario") or {})
    # clips without a grid scenario (test_videos/) show their own subject: "S" plus its height, not a grid body
    height = (gt.get("body") or {}).get("height_m")
    sc["body"] = sc.get("body", sc.get("body_id")) or (f"S ({height:.3f} m)" if height else "S")
    sc["camera"] = sc.get("camera", sc.get("camera_id", "std"))
    sc["split"] = sc.get("split", gt.get("split", "sample"))
    return sc


def _neutral_clip(ev: ClipEval, pose: PoseSequence, gt: dict, config: ScreeningConfig | None) -> ClipEval:
    """Quiet standing: nothing may be flagged. chainscan should find no test; its per-frame pelvis and trunk
    angles (relative to the first ``neutral_frames``, like the other clips) are scored against the truth."""
    cfg = config or ScreeningConfig()
    t0 = time.perf_counter()
    try:
        r = screen_pose(pose, cfg)
        ev.flagged = [f"{f.code} ({f.side.value if f.side else '-'}): {f.severity}" for f in r.findings
                      if f.severity not in ("ok", "unknown")]
        ev.error = f"analysed as {r.test.value}"
    except InsufficientData as e:
        ev.error = str(e)
    except ChainscanError as e:
        ev.ok, ev.error = False, str(e)
    clean = clean_pose(pose, cfg.signal)
    ev.yaw_deg = body_yaw_deg(clean)
    ev.seconds = time.perf_counter() - t0
    ev.test_ok = ev.ok and not ev.flagged and ev.error.startswith("No squat or single-leg stance")
    ev.side_ok = ev.test_ok
    series = m.frame_metrics(clean.xy, clean.world)
    frames = gt["frames"]
    fi = {int(f): i for i, f in enumerate(pose.frame_indices)}
    n0, n1 = gt["neutral_frames"]
    rows0 = [fi[k] for k in range(n0, n1 + 1) if k in fi]
    obl0 = np.nanmedian(series["pelvic_obliquity_deg"][rows0])
    lean0 = np.nanmedian(series["trunk_lean_deg"][rows0])
    t_obl0 = np.mean([f["pelvic_obliquity_deg"] for f in frames[n0:n1 + 1]])
    t_obl0_s = np.mean([f["pelvic_obliquity_surface_deg"] for f in frames[n0:n1 + 1]])
    t_lean0 = np.mean([f["trunk_lean_deg"] for f in frames[n0:n1 + 1]])
    t_lean0_s = np.mean([trunk_lean_2d(f["surface_keypoints_2d"]) for f in frames[n0:n1 + 1]])
    for k, f in enumerate(frames):
        if k <= n1 or k not in fi:
            continue
        mo, ml = series["pelvic_obliquity_deg"][fi[k]] - obl0, series["trunk_lean_deg"][fi[k]] - lean0
        if np.isfinite(mo):
            ev.frame_obl.append((f["pelvic_obliquity_deg"] - t_obl0, f["pelvic_obliquity_surface_deg"] - t_obl0_s,
                                 float(mo)))
        if np.isfinite(ml):
            ev.frame_lean.append((f["trunk_lean_deg"] - t_lean0,
                                  trunk_lean_2d(f["surface_keypoints_2d"]) - t_lean0_s, float(ml)))
    return ev


def evaluate(name: str, pose: PoseSequence, gt: dict, config: ScreeningConfig | None = None) -> ClipEval:
    """Run the analysis on ``pose`` (the landmarks of a rendered clip) and compare it with ``gt``."""
    ev = ClipEval(name, _scenario(gt))
    if gt.get("test") == "neutral_standing":
        return _neutral_clip(ev, pose, gt, config)
    t0 = time.perf_counter()
    try:
        r = screen_pose(pose, config)
    except ChainscanError as e:
        ev.ok, ev.error = False, str(e)
        ev.seconds = time.perf_counter() - t0
        ev.view_gate = next((g.message for g in getattr(e, "gates", None) or [] if g.gate == "frontal_view"
                             and not g.passed), "")
        return ev
    ev.seconds = time.perf_counter() - t0
    ev.yaw_deg = body_yaw_deg(r.clean)
    fv = next((g for g in r.quality if g.gate == "frontal_view"), None)
    ev.view_gate = "passed" if fv is None or fv.passed else fv.message
    ev.not_measurable = [f.code for f in r.findings if f.message.startswith("Not measurable")]
    ev.flagged = [f"{f.code} ({f.side.value if f.side else '-'}): {f.severity}" for f in r.findings
                  if f.severity not in ("ok", "unknown")]
    frames = gt["frames"]
    fi = {int(f): i for i, f in enumerate(pose.frame_indices)}
    ev.test_ok = r.test.value == gt["test"]
    ev.side_ok = (r.stance_side.value if r.stance_side else None) == gt["stance_side"]
    ev.reps_true = len(gt["reps"])
    ev.reps_found = len(r.segmentation.segments) if r.test.value.endswith("squat") else 0
    n0, n1 = gt["neutral_frames"]
    neutral = frames[n0:n1 + 1]
    obl0 = np.mean([f["pelvic_obliquity_deg"] for f in neutral])
    obl0_s = np.mean([f["pelvic_obliquity_surface_deg"] for f in neutral])
    lean0 = np.mean([f["trunk_lean_deg"] for f in neutral])
    lean0_s = np.mean([trunk_lean_2d(f["surface_keypoints_2d"]) for f in neutral])
    obl0_i = np.mean([_intended(f, "pelvic_obliquity_deg") for f in neutral])
    lean0_i = np.mean([_intended(f, "trunk_lean_deg") for f in neutral])
    # FPPA at the deepest frame of each true rep, against the pipeline's matched rep
    segs = list(r.segmentation.segments)
    for rep in gt["reps"]:
        d = rep["deepest_frame"]
        if not segs:
            break
        seg = min(segs, key=lambda s: abs(int(pose.frame_indices[s.deepest]) - d))
        if abs(int(pose.frame_indices[seg.deepest]) - d) > 15:
            continue
        sides = [gt["stance_side"]] if gt["stance_side"] else ["left", "right"]
        for sd in sides:
            meas = float(r.series[f"knee_fppa_{sd}_deg"][seg.deepest])
            ev.fppa.append((frames[d][f"knee_fppa_{sd}_deg"], frames[d][f"knee_fppa_{sd}_surface_deg"], meas))
            tru_i = _intended(frames[d], f"knee_fppa_{sd}_deg")
            ev.fppa_int.append((tru_i, tru_i, meas))
        if gt["test"] == "double_leg_squat":
            ev.sep.append((_sep(frames[d]["joints_2d"]), _sep(frames[d]["surface_keypoints_2d"]),
                           float(r.series["knee_separation_ratio"][seg.deepest])))
    sp = gt.get("stance_period")
    if sp and gt["stance_side"]:
        s0, s1 = sp["start_frame"], sp["end_frame"]
        # the hold: the middle of the single-leg period (ramps excluded)
        a, b = s0 + (s1 - s0) // 5, s1 - (s1 - s0) // 5
        sign = 1.0 if gt["stance_side"] == "right" else -1.0     # + = contralateral side lower
        rows = [fi[k] for k in range(a, b + 1) if k in fi]
        meas_obl = np.nanmedian(r.series["pelvic_obliquity_rel_deg"][rows])
        meas_lean = np.nanmedian(r.series["trunk_lean_rel_deg"][rows])
        tru = np.median([frames[k]["pelvic_obliquity_deg"] for k in range(a, b + 1)]) - obl0
        tru_s = np.median([frames[k]["pelvic_obliquity_surface_deg"] for k in range(a, b + 1)]) - obl0_s
        tl = np.median([frames[k]["trunk_lean_deg"] for k in range(a, b + 1)]) - lean0
        tl_s = np.median([trunk_lean_2d(frames[k]["surface_keypoints_2d"]) for k in range(a, b + 1)]) - lean0_s
        tru_i = float(np.median([_intended(frames[k], "pelvic_obliquity_deg") for k in range(a, b + 1)]) - obl0_i)
        tl_i = np.median([_intended(frames[k], "trunk_lean_deg") for k in range(a, b + 1)]) - lean0_i
        if gt["test"] == "single_leg_stance":
            ev.drop.append((sign * tru, sign * tru_s, sign * float(meas_obl)))
            ev.lean.append((-sign * tl, -sign * tl_s, -sign * float(meas_lean)))
            ev.drop_int.append((sign * tru_i, sign * tru_i, sign * float(meas_obl)))
            ev.lean_int.append((-sign * tl_i, -sign * tl_i, -sign * float(meas_lean)))
    for k, f in enumerate(frames):
        if k <= n1 or k not in fi:
            continue
        i = fi[k]
        mo, ml = r.series["pelvic_obliquity_rel_deg"][i], r.series["trunk_lean_rel_deg"][i]
        if np.isfinite(mo):
            ev.frame_obl.append((f["pelvic_obliquity_deg"] - obl0, f["pelvic_obliquity_surface_deg"] - obl0_s,
                                 float(mo)))
        if np.isfinite(ml):
            ev.frame_lean.append((f["trunk_lean_deg"] - lean0, trunk_lean_2d(f["surface_keypoints_2d"]) - lean0_s,
                                  float(ml)))
    return ev


def stats(triples: list[tuple[float, float, float]], surface: bool = False) -> dict:
    if not triples:
        return {"n": 0}
    a = np.asarray(triples, float)
    truth, meas = a[:, 1 if surface else 0], a[:, 2]
    err = meas - truth
    out = {"n": int(a.shape[0]), "bias": float(err.mean()), "mae": float(np.abs(err).mean()),
           "worst": float(np.abs(err).max())}
    if a.shape[0] >= 3 and np.std(truth) > 0.5:
        slope, _ = np.polyfit(truth, meas, 1)
        out["slope"] = float(slope)
        out["r"] = float(np.corrcoef(truth, meas)[0, 1])
    return out
