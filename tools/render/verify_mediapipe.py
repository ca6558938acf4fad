#!/usr/bin/env python3
"""Check the rendered clips with MediaPipe's bundled Pose model.

Run in the project venv (mediapipe==0.10.21, opencv), not the renderer venv:

    .venv/bin/python tools/render/verify_mediapipe.py [--videos test_videos] [--json out.json]

For every clip: detection rate, mean pixel distance of MediaPipe's hips/knees/ankles to
the ground-truth joint centres (and to anny's COCO surface keypoints), MediaPipe's knee
FPPA at the deepest frames vs ground truth, and for single-leg stance the pelvic
obliquity / trunk lean over the stance period relative to the neutral baseline.
Sign conventions are those of the .gt.json files (see test_videos/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
MP_IDX = {
    "left_shoulder": 11, "right_shoulder": 12, "left_hip": 23, "right_hip": 24,
    "left_knee": 25, "right_knee": 26, "left_ankle": 27, "right_ankle": 28,
    "left_heel": 29, "right_heel": 30, "left_toe": 31, "right_toe": 32,
}


def fppa(H, K, A, side):
    H, K, A = (np.asarray(x, dtype=float) for x in (H, K, A))
    v1, v2 = H - K, A - K
    ang = math.degrees(math.acos(np.clip(v1 @ v2 / (np.linalg.norm(v1) * np.linalg.norm(v2)), -1, 1)))
    t = (K[1] - H[1]) / (A[1] - H[1]) if abs(A[1] - H[1]) > 1e-9 else 0.5
    x_line = H[0] + t * (A[0] - H[0])
    medial = -1.0 if side == "left" else 1.0
    return (180.0 - ang) * (1.0 if (K[0] - x_line) * medial >= 0 else -1.0)


def obliquity(p):
    L, R = np.asarray(p["left_hip"]), np.asarray(p["right_hip"])
    return math.degrees(math.atan2(L[1] - R[1], L[0] - R[0]))


def lean(p):
    mh = 0.5 * (np.asarray(p["left_hip"]) + np.asarray(p["right_hip"]))
    ms = 0.5 * (np.asarray(p["left_shoulder"]) + np.asarray(p["right_shoulder"]))
    return math.degrees(math.atan2(ms[0] - mh[0], mh[1] - ms[1]))


def landmarks(video: Path) -> list[dict | None]:
    """MediaPipe Pose (bundled full model, tracking mode) on every frame: pixel points by name, or None."""
    cap = cv2.VideoCapture(str(video))
    W = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    H = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    det: list[dict | None] = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None:
                det.append(None)
            else:
                lm = res.pose_landmarks.landmark
                det.append({k: np.array([lm[i].x * W, lm[i].y * H]) for k, i in MP_IDX.items()})
    return det


def run(video: Path):
    gt = json.loads((video.parent / (video.stem + ".gt.json")).read_text())
    det = landmarks(video)
    frames = gt["frames"]
    n = len(frames)
    assert len(det) == n, (len(det), n)
    out = {"clip": gt["clip"], "n_frames": n, "detected": sum(d is not None for d in det)}
    out["detection_rate"] = out["detected"] / n
    errs = {g: [] for g in ("hip", "knee", "ankle", "shoulder")}
    errs_s = {g: [] for g in ("hip", "knee", "ankle")}
    swaps = 0
    for d, fr in zip(det, frames):
        if d is None:
            continue
        jt = fr["joints_2d"]
        # A left/right label swap: MediaPipe's left hip nearer the GT right hip.
        if np.linalg.norm(d["left_hip"] - jt["right_hip"]) < np.linalg.norm(d["left_hip"] - jt["left_hip"]) and \
                np.linalg.norm(d["left_knee"] - jt["right_knee"]) < np.linalg.norm(d["left_knee"] - jt["left_knee"]):
            swaps += 1
        for g in errs:
            for s in ("left", "right"):
                errs[g].append(np.linalg.norm(d[f"{s}_{g}"] - np.array(jt[f"{s}_{g}"])))
        for g in errs_s:
            for s in ("left", "right"):
                errs_s[g].append(np.linalg.norm(d[f"{s}_{g}"] - np.array(fr["surface_keypoints_2d"][f"{s}_{g}"])))
    out["left_right_swapped_frames"] = swaps
    out["mean_px_error_vs_joint_centres"] = {g: round(float(np.mean(v)), 1) for g, v in errs.items() if v}
    out["max_px_error_vs_joint_centres"] = {g: round(float(np.max(v)), 1) for g, v in errs.items() if v}
    out["mean_px_error_vs_surface_keypoints"] = {g: round(float(np.mean(v)), 1) for g, v in errs_s.items() if v}
    reps = []
    for rp in gt.get("reps") or []:
        k = rp["deepest_frame"]
        fr, d = frames[k], det[k]
        row = {"deepest_frame": k, "gt_fppa_left": fr["knee_fppa_left_deg"], "gt_fppa_right": fr["knee_fppa_right_deg"],
               "gt_surface_fppa_left": fr["knee_fppa_left_surface_deg"],
               "gt_surface_fppa_right": fr["knee_fppa_right_surface_deg"]}
        if d is not None:
            row["mp_fppa_left"] = round(fppa(d["left_hip"], d["left_knee"], d["left_ankle"], "left"), 2)
            row["mp_fppa_right"] = round(fppa(d["right_hip"], d["right_knee"], d["right_ankle"], "right"), 2)
        reps.append(row)
    out["reps"] = reps
    nf = gt["neutral_frames"]
    sp = gt.get("stance_period")
    if sp and gt["view"] == "frontal":
        base = [det[k] for k in range(nf[0], nf[1] + 1) if det[k] is not None]
        # The middle of the stance period (skip the lift and the put-down).
        a = sp["start_frame"] + (sp["end_frame"] - sp["start_frame"]) // 5
        b = sp["end_frame"] - (sp["end_frame"] - sp["start_frame"]) // 5
        hold = [k for k in range(a, b + 1) if det[k] is not None]
        mp_ob0 = np.mean([obliquity(d) for d in base])
        mp_le0 = np.mean([lean(d) for d in base])
        out["stance_hold_frames"] = [a, b]
        out["gt_pelvic_obliquity_deg"] = round(float(np.mean([frames[k]["pelvic_obliquity_deg"] for k in range(a, b + 1)])), 2)
        out["gt_trunk_lean_deg"] = round(float(np.mean([frames[k]["trunk_lean_deg"] for k in range(a, b + 1)])), 2)
        out["gt_surface_pelvic_obliquity_deg"] = round(float(np.mean(
            [frames[k]["pelvic_obliquity_surface_deg"] for k in range(a, b + 1)])), 2)
        out["mp_pelvic_obliquity_minus_baseline_deg"] = round(float(np.mean([obliquity(det[k]) for k in hold]) - mp_ob0), 2)
        out["mp_trunk_lean_minus_baseline_deg"] = round(float(np.mean([lean(det[k]) for k in hold]) - mp_le0), 2)
        out["mp_fppa_stance_knee_mean_deg"] = round(float(np.mean([
            fppa(det[k][f"{gt['stance_side']}_hip"], det[k][f"{gt['stance_side']}_knee"],
                 det[k][f"{gt['stance_side']}_ankle"], gt["stance_side"]) for k in hold])), 2)
    if gt["view"] == "side":
        # How frontal does the view look to MediaPipe: shoulder width / torso height.
        ratios = []
        for d in det:
            if d is None:
                continue
            sw = abs(d["left_shoulder"][0] - d["right_shoulder"][0])
            th = np.linalg.norm(0.5 * (d["left_shoulder"] + d["right_shoulder"]) - 0.5 * (d["left_hip"] + d["right_hip"]))
            ratios.append(sw / th)
        out["mp_shoulder_width_over_torso_median"] = round(float(np.median(ratios)), 3) if ratios else None
        k = nf[1]
        fr = frames[k]
        jt = fr["joints_2d"]
        out["gt_shoulder_width_over_torso_neutral"] = round(abs(jt["left_shoulder"][0] - jt["right_shoulder"][0]) / np.linalg.norm(
            np.array(jt["mid_shoulder"]) - np.array(jt["mid_hip"])), 3)
    if gt.get("people_in_view", 1) > 1:
        # Which person did MediaPipe follow?
        a_err, b_err = [], []
        for d, fr in zip(det, frames):
            if d is None:
                continue
            a_err.append(np.linalg.norm(d["left_hip"] - fr["joints_2d"]["left_hip"]))
            b_err.append(np.linalg.norm(d["left_hip"] - fr["second_person_joints_2d"]["left_hip"]))
        out["tracked_person_A_frames"] = int(np.sum(np.array(a_err) < np.array(b_err)))
        out["tracked_person_B_frames"] = int(np.sum(np.array(a_err) >= np.array(b_err)))
        # Pixel errors against the person MediaPipe followed in each frame (the errors above are vs person A).
        errs_t = {g: [] for g in ("hip", "knee", "ankle", "shoulder")}
        for d, fr in zip(det, frames):
            if d is None:
                continue
            ja, jb = fr["joints_2d"], fr["second_person_joints_2d"]
            jt = jb if np.linalg.norm(d["left_hip"] - jb["left_hip"]) < np.linalg.norm(d["left_hip"] - ja["left_hip"]) else ja
            for g in errs_t:
                for s in ("left", "right"):
                    errs_t[g].append(np.linalg.norm(d[f"{s}_{g}"] - np.array(jt[f"{s}_{g}"])))
        out["mean_px_error_vs_tracked_person"] = {g: round(float(np.mean(v)), 1) for g, v in errs_t.items() if v}
        out["max_px_error_vs_tracked_person"] = {g: round(float(np.max(v)), 1) for g, v in errs_t.items() if v}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", default=str(REPO / "test_videos"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = []
    for v in sorted(Path(args.videos).glob("*.mp4")):
        r = run(v)
        results.append(r)
        print(json.dumps(r, indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
