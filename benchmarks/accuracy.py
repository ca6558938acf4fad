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
- test type, stance side and rep count correctness; the view check (chainscan.view body yaw, frontal-view
  gate, findings reported "not measurable"); on quiet-standing clips, that nothing is flagged.
Per camera condition the errors are given against two truths: *as projected* (what that camera sees) and
*intended* (the same motion seen square on by the standard camera: the value the clinician wants).
Statistics per group: n, bias (mean error), slope and r of measured on truth, MAE, worst |error|.
A benchmark, not a test: it prints numbers.

The pose cache key covers the clip (path, size, mtime), chainscan's version, mediapipe's version, the pose
model in use and a hash of the extraction code, so a change to pose extraction re-extracts.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from chainscan import __version__  # noqa: E402
from chainscan.extract import extract_pose  # noqa: E402
from chainscan.io.pose import make_estimator, quiet_native_logs  # noqa: E402
from chainscan.io.pose_file import load_pose, save_pose  # noqa: E402
from chainscan.validation import ClipEval, evaluate, stats  # noqa: E402

#: the code that turns a video into a PoseSequence (what the cache stores)
EXTRACTION_CODE = ("extract.py", "io/pose.py", "io/video.py", "landmarks.py", "types.py")


def extraction_fingerprint(src: Path | None = None) -> str:
    """chainscan version, mediapipe version, pose model and a hash of the extraction code (in ``src``)."""
    from importlib import metadata

    from chainscan.io.pose import MODEL_ENV, bundled_model_path

    h = hashlib.sha1()
    src = src or ROOT / "src" / "chainscan"
    for rel in EXTRACTION_CODE:
        p = src / rel
        h.update(rel.encode() + b"\0" + (p.read_bytes() if p.exists() else b"-"))
    try:
        mp_version = metadata.version("mediapipe")
    except metadata.PackageNotFoundError:
        mp_version = "none"
    model = os.environ.get(MODEL_ENV) or ""
    try:
        mp = Path(model) if model else bundled_model_path()
        model += f":{mp}:{mp.stat().st_size}"
    except Exception:  # noqa: BLE001 - no bundled model file: the key still changes with MODEL_ENV
        pass
    return f"chainscan {__version__}; mediapipe {mp_version}; model {model}; code {h.hexdigest()}"


def cache_path(mp4: Path, cache: Path, fingerprint: str) -> Path:
    st = mp4.stat()
    key = hashlib.sha1(f"{mp4.resolve()}:{st.st_size}:{st.st_mtime_ns}:{fingerprint}".encode()).hexdigest()[:16]
    return cache / f"{mp4.stem}-{key}.npz"


def _pose_for(mp4: Path, cache: Path, fingerprint: str | None = None):
    p = cache_path(mp4, cache, fingerprint if fingerprint is not None else extraction_fingerprint())
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
                rows.append(f"| {g} | {conv} " + _fmt(stats(trip, surf)))
        if rows:
            lines += [f"**{title}** by {group_key}", "",
                      f"| {group_key} | truth | n | bias | slope | r | MAE | worst |",
                      "|---|---|---|---|---|---|---|---|", *rows, ""]
    return lines


def _is_neutral(e: ClipEval) -> bool:
    return e.scenario.get("test") == "neutral_standing"


def correctness(evals: list[ClipEval]) -> list[str]:
    lines = ["| clip | body | camera | split | test | side | reps found / true | body yaw (°) | view gate | "
             "not measurable | note |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in evals:
        sc = e.scenario
        head = f"| {e.name} | {sc.get('body', '')} | {sc.get('camera', '')} | {sc.get('split', '')} | "
        yaw = f"{e.yaw_deg:+.1f}" if np.isfinite(e.yaw_deg) else "–"
        view = "pass" if e.view_gate == "passed" else ("FAIL" if e.view_gate else "–")
        if not e.ok:
            lines.append(head + f"refused | – | – | {yaw} | {view} | – | {e.error} |")
            continue
        if _is_neutral(e):
            note = "nothing flagged" if not e.flagged else "FLAGGED: " + "; ".join(e.flagged)
            lines.append(head + f"{'✓' if e.test_ok else '✗'} | – | – | {yaw} | – | – | {note} ({e.error}) |")
            continue
        reps = f"{e.reps_found} / {e.reps_true}" if e.reps_true or e.reps_found else "–"
        nm = ", ".join(e.not_measurable) or "–"
        note = ("flagged: " + "; ".join(e.flagged)) if e.flagged else ""
        lines.append(head + f"{'✓' if e.test_ok else '✗'} | {'✓' if e.side_ok else '✗'} | {reps} | {yaw} | {view} | "
                     f"{nm} | {note} |")
    neutral = [e for e in evals if _is_neutral(e)]
    evals = [e for e in evals if not _is_neutral(e)]
    ok = [e for e in evals if e.ok]
    n_rep = [e for e in ok if e.reps_true]
    lines += ["", f"Test type right in {sum(e.test_ok for e in ok)}/{len(ok)} analysed clips; stance side right in "
              f"{sum(e.side_ok for e in ok)}/{len(ok)}; rep count exact in "
              f"{sum(e.reps_found == e.reps_true for e in n_rep)}/{len(n_rep)} squat clips; "
              f"{len(evals) - len(ok)} clip(s) refused."]
    if neutral:
        lines.append(f"Quiet standing: {sum(not e.flagged for e in neutral)}/{len(neutral)} clips with nothing "
                     f"flagged, {sum(e.test_ok for e in neutral)}/{len(neutral)} answered \"no squat or single-leg "
                     "stance recognised\".")
        for title, attr in (("pelvic obliquity", "frame_obl"), ("trunk lean", "frame_lean")):
            trip = [t for e in neutral for t in getattr(e, attr)]
            if trip:
                st, worst = stats(trip), max(abs(t[2]) for t in trip)
                lines.append(f"Quiet standing, {title} per frame relative to the first 1.2 s: n {st['n']}, "
                             f"MAE {st['mae']:.1f}°, largest reading {worst:.1f}° (truth within ±1°).")
    return lines + [""]


def camera_table(evals: list[ClipEval]) -> list[str]:
    """Per camera condition: errors against the truth as projected by that camera and against the intended
    (standard square-on camera) value, with the view check."""
    lines = ["**Per camera condition: as projected vs intended truth** (joint centres; errors measured − truth; "
             "intended = the same motion seen square on by the standard camera)", "",
             "| camera | quantity | n | truth levels | as projected: bias | slope | r | MAE | worst | "
             "intended: bias | slope | r | MAE | worst | body yaw (°) | view gate failed |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cams: dict[str, list[ClipEval]] = defaultdict(list)
    for e in evals:
        if e.ok and not _is_neutral(e):
            cams[str(e.scenario.get("camera", "?"))].append(e)

    def cell(s: dict) -> str:
        if not s.get("n"):
            return "– | – | – | – | –"
        g = lambda k, f: format(s[k], f) if k in s else "–"  # noqa: E731
        return f"{s['bias']:+.1f} | {g('slope', '.2f')} | {g('r', '.2f')} | {s['mae']:.1f} | {s['worst']:.1f}"

    for cam in sorted(cams, key=lambda c: (c != "std", c)):
        es = cams[cam]
        yaws = [e.yaw_deg for e in es if np.isfinite(e.yaw_deg)]
        yr = f"{min(yaws):+.0f}…{max(yaws):+.0f}" if yaws else "–"
        failed = f"{sum(e.view_gate not in ('passed', '') for e in es)}/{len(es)}"
        for title, a, b in (("knee FPPA", "fppa", "fppa_int"), ("pelvic drop", "drop", "drop_int"),
                            ("trunk lean", "lean", "lean_int")):
            proj = [t for e in es for t in getattr(e, a)]
            inten = [t for e in es for t in getattr(e, b)]
            if not proj:
                continue
            levels = sorted({round(t[0]) for t in inten})
            lines.append(f"| {cam} | {title} | {len(proj)} | {', '.join(f'{v:g}' for v in levels)} | "
                         f"{cell(stats(proj))} | {cell(stats(inten))} | {yr} | {failed} |")
    return lines + [""]


def calibration(evals: list[ClipEval]) -> list[str]:
    """Fit truth = a × measured + b on the "fit" split, apply it to the "holdout" split, compare MAE."""
    lines = ["**Calibration fitted on the fit split, checked on the holdout split** (joint-centre truth)", "",
             "| quantity | fit: a, b | holdout MAE raw | holdout MAE calibrated | holdout worst raw → calibrated |",
             "|---|---|---|---|---|"]
    for title, attr in (("knee FPPA at deepest frame (°)", "fppa"), ("contralateral pelvic drop (°)", "drop"),
                        ("ipsilateral trunk lean (°)", "lean")):
        fit = np.asarray([t for e in evals if e.scenario.get("split") == "fit" for t in getattr(e, attr)], float)
        hold = np.asarray([t for e in evals if e.scenario.get("split") == "holdout" for t in getattr(e, attr)], float)
        if fit.shape[0] < 3 or hold.shape[0] < 1 or np.std(fit[:, 2]) < 0.5:
            continue
        a, b = np.polyfit(fit[:, 2], fit[:, 0], 1)
        raw = np.abs(hold[:, 2] - hold[:, 0])
        cal = np.abs(a * hold[:, 2] + b - hold[:, 0])
        lines.append(f"| {title} | {a:.2f}, {b:+.1f} | {raw.mean():.1f} | {cal.mean():.1f} | "
                     f"{raw.max():.1f} → {cal.max():.1f} |")
    return lines + [""]


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
    fingerprint = extraction_fingerprint()
    evals = []
    for mp4, gt in clips:
        if gt.get("test") not in ("double_leg_squat", "single_leg_squat", "single_leg_stance", "side_view",
                                  "neutral_standing"):
            continue
        ev = evaluate(mp4.stem, _pose_for(mp4, args.cache, fingerprint), gt)
        evals.append(ev)
        print(f"{mp4.name:45s} {'ok' if ev.ok else 'refused':8s} {ev.seconds:6.1f} s", flush=True)
    cmd = "python benchmarks/accuracy.py " + " ".join(
        f"--clips {' '.join(str(c) for c in args.clips)}".split() if args.clips else [])
    out = ["## Rendered clips: chainscan against exact ground truth", "",
           f"Command: `{cmd}` — {len(evals)} clips, {time.perf_counter() - t0:.0f} s on {machine()}.", "",
           "Errors are measured − truth. Slope and r: measured regressed on truth (only where the truth varies).",
           f"Pose cache key includes: {fingerprint}.", "",
           "", *correctness(evals), *camera_table(evals)]
    for key in ("split", "body", "camera"):
        out += tables(evals, key)
    if {e.scenario.get("split") for e in evals} >= {"fit", "holdout"}:
        out += calibration(evals)
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps([e.__dict__ for e in evals], indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
