#!/usr/bin/env python3
"""MediaPipe Pose vs ground truth on rendered benchmark clips (render_grid.py output).

Run in the project venv (mediapipe 0.10.21), not the renderer venv:

    .venv/bin/python tools/render/bench_mediapipe.py [--videos /work/bench-clips] [--json out.json]
    .venv/bin/python tools/render/bench_mediapipe.py --videos /work/bench-clips/pelvis-experiment --pelvis

Per clip (MediaPipe: Pose(static_image_mode=False, model_complexity=1), every frame):
- single-leg / double-leg squat: knee FPPA at the deepest frames, MediaPipe vs ground truth
  (joint centres and anny's COCO surface keypoints);
- single-leg stance: pelvic obliquity and trunk lean over the hold frames, each MINUS its own
  mean over the neutral standing frames, for MediaPipe's hips/shoulders, the joint centres and
  the surface keypoints.
Sign conventions are those of the .gt.json files (test_videos/README.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from verify_mediapipe import MP_IDX, fppa, landmarks, lean, obliquity  # noqa: E402,F401


def r(x, nd=2):
    return None if x is None else round(float(x), nd)


def analyse(video: Path):
    gt = json.loads(video.with_name(video.stem + ".gt.json").read_text())
    det = landmarks(video)
    fr = gt["frames"]
    n = len(fr)
    assert len(det) == n, (video, len(det), n)
    sc = gt.get("scenario", {})
    out = {"clip": video.stem, "split": gt.get("split"), "test": gt["test"], "stance_side": gt["stance_side"],
           "camera_id": sc.get("camera_id"), "body_id": sc.get("body_id"), "variant": sc.get("renderer_variant"),
           "target_fppa_deg": sc.get("target_fppa_deg"), "target_drop_deg": sc.get("target_drop_deg"),
           "target_lean_deg": sc.get("target_lean_deg"),
           "detected": sum(d is not None for d in det), "n_frames": n}
    errs = []
    for d, f in zip(det, fr):
        if d is not None:
            errs += [np.linalg.norm(d[f"{s}_hip"] - np.array(f["joints_2d"][f"{s}_hip"])) for s in ("left", "right")]
    out["hip_px_error_mean"] = r(np.mean(errs)) if errs else None
    if gt["test"] in ("single_leg_squat", "double_leg_squat"):
        sides = [gt["stance_side"]] if gt["stance_side"] else ["left", "right"]
        rows = []
        for rp in gt["reps"]:
            k = rp["deepest_frame"]
            for s in sides:
                d = det[k]
                rows.append({"frame": k, "side": s, "gt": fr[k][f"knee_fppa_{s}_deg"],
                             "gt_surface": fr[k][f"knee_fppa_{s}_surface_deg"],
                             "gt_standard_camera": fr[k].get("standard_camera", {}).get(f"knee_fppa_{s}_deg"),
                             "mp": None if d is None else r(fppa(d[f"{s}_hip"], d[f"{s}_knee"], d[f"{s}_ankle"], s))})
        out["fppa_deepest"] = rows
        ok = [x for x in rows if x["mp"] is not None]
        out["fppa_gt_mean"] = r(np.mean([x["gt"] for x in rows]))
        out["fppa_surface_mean"] = r(np.mean([x["gt_surface"] for x in rows]))
        out["fppa_mp_mean"] = r(np.mean([x["mp"] for x in ok])) if ok else None
    if gt["test"] == "single_leg_stance":
        nf = gt["neutral_frames"]
        if sc.get("hold_frames"):
            a, b = sc["hold_frames"]
        else:
            sp = gt["stance_period"]
            a = sp["start_frame"] + (sp["end_frame"] - sp["start_frame"]) // 5
            b = sp["end_frame"] - (sp["end_frame"] - sp["start_frame"]) // 5
        base = [k for k in range(nf[0], nf[1] + 1) if det[k] is not None]
        hold = [k for k in range(a, b + 1) if det[k] is not None]

        def rel(fn_mp, key_gt):
            g0 = np.mean([fr[k][key_gt] for k in range(nf[0], nf[1] + 1)])
            g = np.mean([fr[k][key_gt] for k in range(a, b + 1)]) - g0
            m = (np.mean([fn_mp(det[k]) for k in hold]) - np.mean([fn_mp(det[k]) for k in base])) if hold and base else None
            return g, m

        g_ob, m_ob = rel(obliquity, "pelvic_obliquity_deg")
        gs_ob, _ = rel(obliquity, "pelvic_obliquity_surface_deg")
        g_le, m_le = rel(lean, "trunk_lean_deg")
        out.update({"hold_frames": [a, b], "obliquity_gt": r(g_ob), "obliquity_surface": r(gs_ob), "obliquity_mp": r(m_ob),
                    "lean_gt": r(g_le), "lean_mp": r(m_le)})
        # Per-frame slope of MediaPipe's obliquity against the ground truth over the whole clip.
        ks = [k for k in range(n) if det[k] is not None]
        x = np.array([fr[k]["pelvic_obliquity_deg"] for k in ks])
        y = np.array([obliquity(det[k]) for k in ks])
        if np.ptp(x) > 1:
            out["obliquity_mp_slope_per_frame"] = r(np.polyfit(x, y, 1)[0], 3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", default="/work/bench-clips")
    ap.add_argument("--only", default="*", help="glob on clip names")
    ap.add_argument("--json", default=None)
    ap.add_argument("--pelvis", action="store_true", help="print the stance table only")
    a = ap.parse_args()
    res = []
    for v in sorted(Path(a.videos).glob(a.only + ".mp4")):
        if not v.with_name(v.stem + ".gt.json").exists():
            continue
        o = analyse(v)
        res.append(o)
        if o["test"] == "single_leg_stance":
            print(f"{o['clip']:48s} det {o['detected']}/{o['n_frames']}  obliquity gt {o['obliquity_gt']:+.2f} "
                  f"surface {o['obliquity_surface']:+.2f} MP {o['obliquity_mp']:+.2f} | lean gt {o['lean_gt']:+.2f} "
                  f"MP {o['lean_mp']:+.2f}", flush=True)
        elif not a.pelvis:
            print(f"{o['clip']:48s} det {o['detected']}/{o['n_frames']}  FPPA gt {o['fppa_gt_mean']:+.2f} "
                  f"surface {o['fppa_surface_mean']:+.2f} MP {o['fppa_mp_mean']}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
