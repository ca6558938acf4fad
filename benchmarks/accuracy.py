"""Accuracy benchmark: chainscan against exact ground truth on rendered clips. Prints and writes tables.

    .venv/bin/python benchmarks/accuracy.py [--clips DIR ...] [--cache DIR] [--out FILE.md] [--json FILE]

Each clip is ``NAME.mp4`` with ``NAME.gt.json`` beside it (format: test_videos/README.md). The full
pipeline runs on every clip (pose extraction is cached in ``--cache``), and its outputs are compared
with the ground truth in both conventions: joint centres (bone heads of the body model) and surface
keypoints (the body model's COCO keypoint regressor, closer to skin markers and to what MediaPipe
outputs).

Measured quantities (what a clinician reads, not only frame-by-frame agreement):
- knee FPPA at each rep's deepest frame (single-leg squats: stance knee; double-leg: both knees), the
  pipeline's own rep detection matched to the true reps;
- pelvic obliquity and trunk lean relative to neutral standing, as the median over the single-leg hold
  (stance clips) — reported as contralateral drop and ipsilateral lean;
- the same two per frame (all frames after the neutral window);
- test type, stance side and rep count correctness.
Statistics per group: n, bias (mean error), slope and r of measured on truth, MAE, worst |error|.
A benchmark, not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from chainscan import __version__  # noqa: E402
from chainscan.errors import ChainscanError  # noqa: E402
from chainscan.extract import extract_pose  # noqa: E402
from chainscan.io.pose import make_estimator, quiet_native_logs  # noqa: E402
from chainscan.io.pose_file import load_pose, save_pose  # noqa: E402
from chainscan.pipeline import screen_pose  # noqa: E402


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


def _pose_for(mp4: Path, cache: Path):
    st = mp4.stat()
    key = hashlib.sha1(f"{mp4.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    p = cache / f"{mp4.stem}-{key}.npz"
    if p.exists():
        return load_pose(p)
    est = make_estimator()
    try:
        with quiet_native_logs():
            pose = extract_pose(mp4, est)
    finally:
        est.close()
    cache.mkdir(parents=True, exist_ok=True)
    save_pose(pose, p)
    return pose


def _obl(p2: dict, surface: bool = False) -> float:
    lh, rh = np.array(p2["left_hip"]), np.array(p2["right_hip"])
    return float(np.degrees(np.arctan2(lh[1] - rh[1], abs(lh[0] - rh[0]))))


def _sep(p2: dict) -> float:
    return abs(p2["left_knee"][0] - p2["right_knee"][0]) / abs(p2["left_ankle"][0] - p2["right_ankle"][0])


def evaluate(mp4: Path, gt: dict, cache: Path) -> ClipEval:
    ev = ClipEval(mp4.stem, gt.get("scenario", {"body": "A", "camera": "standard", "split": "sample"}))
    ev.scenario.setdefault("split", gt.get("split", "sample"))
    t0 = time.perf_counter()
    try:
        pose = _pose_for(mp4, cache)
        r = screen_pose(pose)
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
        s, e = sp["start_frame"], sp["end_frame"]
        # the hold: the middle of the single-leg period (ramps excluded)
        a, b = s + (e - s) // 5, e - (e - s) // 5
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
            ev.frame_obl.append((f["pelvic_obliquity_deg"] - obl0, f["pelvic_obliquity_surface_deg"] - obl0_s, float(mo)))
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


def _fmt(s: dict) -> str:
    if not s.get("n"):
        return "| – | – | – | – | – | – |"
    f = lambda k, nd=2: (f"{s[k]:+.{nd}f}" if k == "bias" else f"{s[k]:.{nd}f}") if k in s else "–"  # noqa: E731
    return f"| {s['n']} | {f('bias', 1)} | {f('slope')} | {f('r')} | {f('mae', 1)} | {f('worst', 1)} |"


QUANTITIES = (
    ("knee FPPA at deepest frame (°)", "fppa"),
    ("knee separation ratio at deepest frame", "sep"),
    ("contralateral pelvic drop, stance hold (°)", "drop"),
    ("ipsilateral trunk lean, stance hold (°)", "lean"),
    ("pelvic obliquity vs neutral, per frame (°)", "frame_obl"),
    ("trunk lean vs neutral, per frame (°)", "frame_lean"),
)


def tables(evals: list[ClipEval], group_key: str) -> list[str]:
    groups: dict[str, list[ClipEval]] = defaultdict(list)
    for e in evals:
        groups[str(e.scenario.get(group_key, "?"))].append(e)
    lines = []
    for title, attr in QUANTITIES:
        rows = []
        for g in sorted(groups):
            trip = [t for e in groups[g] for t in getattr(e, attr)]
            if not trip:
                continue
            for conv, surf in (("joint centres", False), ("surface keypoints", True)):
                if attr in ("lean", "frame_lean") and surf:
                    continue
                rows.append(f"| {g} | {conv} " + _fmt(stats(trip, surf)))
        if rows:
            lines += [f"**{title}** by {group_key}", "",
                      f"| {group_key} | truth | n | bias | slope | r | MAE | worst |",
                      "|---|---|---|---|---|---|---|---|", *rows, ""]
    return lines


def correctness(evals: list[ClipEval]) -> list[str]:
    lines = ["| clip | body | camera | split | test | side | reps found / true | note |",
             "|---|---|---|---|---|---|---|---|"]
    for e in evals:
        sc = e.scenario
        if not e.ok:
            lines.append(f"| {e.name} | {sc.get('body', '')} | {sc.get('camera', '')} | {sc.get('split', '')} | "
                         f"refused | – | – | {e.error} |")
            continue
        reps = f"{e.reps_found} / {e.reps_true}" if e.reps_true or e.reps_found else "–"
        lines.append(f"| {e.name} | {sc.get('body', '')} | {sc.get('camera', '')} | {sc.get('split', '')} | "
                     f"{'✓' if e.test_ok else '✗'} | {'✓' if e.side_ok else '✗'} | {reps} | |")
    ok = [e for e in evals if e.ok]
    n_rep = [e for e in ok if e.reps_true]
    lines += ["", f"Test type right in {sum(e.test_ok for e in ok)}/{len(ok)} analysed clips; stance side right in "
              f"{sum(e.side_ok for e in ok)}/{len(ok)}; rep count exact in "
              f"{sum(e.reps_found == e.reps_true for e in n_rep)}/{len(n_rep)} squat clips; "
              f"{len(evals) - len(ok)} clip(s) refused.", ""]
    return lines


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, chainscan {__version__}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="*", type=Path, default=[ROOT / "test_videos"],
                    help="folders of NAME.mp4 + NAME.gt.json (default: test_videos)")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache", help="pose cache folder")
    ap.add_argument("--out", type=Path, help="write the markdown report here")
    ap.add_argument("--json", type=Path, help="write the raw numbers here")
    args = ap.parse_args(argv)
    clips = []
    for d in args.clips:
        for gt_path in sorted(d.glob("*.gt.json")):
            mp4 = gt_path.with_name(gt_path.name.replace(".gt.json", ".mp4"))
            if mp4.exists():
                clips.append((mp4, json.loads(gt_path.read_text())))
    if not clips:
        print("no clips with ground truth found in", ", ".join(map(str, args.clips)))
        return 1
    t0 = time.perf_counter()
    evals = []
    for mp4, gt in clips:
        if gt.get("test") not in ("double_leg_squat", "single_leg_squat", "single_leg_stance", "side_view"):
            continue
        ev = evaluate(mp4, gt, args.cache)
        evals.append(ev)
        print(f"{mp4.name:45s} {'ok' if ev.ok else 'refused':8s} {ev.seconds:6.1f} s", flush=True)
    cmd = "python benchmarks/accuracy.py " + " ".join(
        f"--clips {' '.join(str(c) for c in args.clips)}".split() if args.clips else [])
    out = ["## Rendered clips: chainscan against exact ground truth", "",
           f"Command: `{cmd}` — {len(evals)} clips, {time.perf_counter() - t0:.0f} s on {machine()}.", "",
           "Errors are measured − truth. Slope and r: measured regressed on truth (only where the truth varies).",
           "", *correctness(evals)]
    for key in ("split", "body", "camera"):
        if len({str(e.scenario.get(key)) for e in evals}) >= 1:
            out += tables(evals, key)
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps([e.__dict__ for e in evals], indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
