"""Comparing chainscan with exact ground truth (rendered clips, see test_videos/README.md).

Used by benchmarks/accuracy.py and by the tests that pin accuracy. Ground-truth files follow the format
of ``test_videos/*.gt.json``: per frame the joint-centre and surface-keypoint conventions of knee FPPA
and pelvic obliquity, the trunk lean, plus rep boundaries, stance period, neutral frames and stance side.
All angles use chainscan's sign conventions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .config import ScreeningConfig
from .errors import ChainscanError
from .pipeline import screen_pose
from .types import PoseSequence


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
    fppa: list[tuple[float, float, float]] = field(default_factory=list)
    drop: list[tuple[float, float, float]] = field(default_factory=list)
    lean: list[tuple[float, float, float]] = field(default_factory=list)
    frame_obl: list[tuple[float, float, float]] = field(default_factory=list)
    frame_lean: list[tuple[float, float, float]] = field(default_factory=list)
    sep: list[tuple[float, float, float]] = field(default_factory=list)
    seconds: float = 0.0


def _sep(p2: dict) -> float:
    return abs(p2["left_knee"][0] - p2["right_knee"][0]) / abs(p2["left_ankle"][0] - p2["right_ankle"][0])


def evaluate(name: str, pose: PoseSequence, gt: dict, config: ScreeningConfig | None = None) -> ClipEval:
    """Run the analysis on ``pose`` (the landmarks of a rendered clip) and compare it with ``gt``."""
    sc = dict(gt.get("scenario") or {})
    sc["body"] = sc.get("body", sc.get("body_id", "A"))
    sc["camera"] = sc.get("camera", sc.get("camera_id", "std"))
    sc["split"] = sc.get("split", gt.get("split", "sample"))
    ev = ClipEval(name, sc)
    t0 = time.perf_counter()
    try:
        r = screen_pose(pose, config)
    except ChainscanError as e:
        ev.ok, ev.error = False, str(e)
        ev.seconds = time.perf_counter() - t0
        return ev
    ev.seconds = time.perf_counter() - t0
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
            ev.fppa.append((frames[d][f"knee_fppa_{sd}_deg"], frames[d][f"knee_fppa_{sd}_surface_deg"],
                            float(r.series[f"knee_fppa_{sd}_deg"][seg.deepest])))
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
        if gt["test"] == "single_leg_stance":
            ev.drop.append((sign * tru, sign * tru_s, sign * float(meas_obl)))
            ev.lean.append((-sign * tl, -sign * tl, -sign * float(meas_lean)))
    for k, f in enumerate(frames):
        if k <= n1 or k not in fi:
            continue
        i = fi[k]
        mo, ml = r.series["pelvic_obliquity_rel_deg"][i], r.series["trunk_lean_rel_deg"][i]
        if np.isfinite(mo):
            ev.frame_obl.append((f["pelvic_obliquity_deg"] - obl0, f["pelvic_obliquity_surface_deg"] - obl0_s,
                                 float(mo)))
        if np.isfinite(ml):
            ev.frame_lean.append((f["trunk_lean_deg"] - lean0, f["trunk_lean_deg"] - lean0, float(ml)))
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
