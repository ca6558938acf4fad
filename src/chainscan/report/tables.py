"""Tabular exports: frames.csv (one row per analysed frame) and reps.csv (one row per rep / stance period)."""

from __future__ import annotations

import csv
import io

import numpy as np

from ..landmarks import Landmark
from ..result import ScreeningResult


def frame_columns(result: ScreeningResult) -> list[str]:
    names = ["frame", "time_s", "person_detected", "stance"]
    for name in result.series:
        names.append(name)
        if name in result.raw:
            names.append(f"{name}_raw")
    for lm in (Landmark.LEFT_HIP, Landmark.RIGHT_HIP, Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE,
               Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE):
        names += [f"{lm.name.lower()}_x_px", f"{lm.name.lower()}_y_px"]
    return names


def frames_csv(result: ScreeningResult) -> str:
    """frames.csv text. Column names carry their unit (``_deg``, ``_s``, ``_px``; ratios and leg-length
    fractions are dimensionless: see docs/result-schema.md). Filtered series first, ``*_raw`` beside them
    (computed from the landmarks exactly as the model returned them). ``stance``: left / right / both."""
    pose = result.pose
    cols = frame_columns(result)
    data: dict[str, np.ndarray] = {
        "frame": pose.frame_indices, "time_s": pose.timestamps,
        "person_detected": pose.detected.astype(int),
        "stance": np.array(["left" if s > 0 else "right" if s < 0 else "both" for s in result.segmentation.stance]),
    }
    for name, v in result.series.items():
        data[name] = v
        if name in result.raw:
            data[f"{name}_raw"] = result.raw[name]
    for lm in (Landmark.LEFT_HIP, Landmark.RIGHT_HIP, Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE,
               Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE):
        data[f"{lm.name.lower()}_x_px"] = result.clean.xy[:, int(lm), 0]
        data[f"{lm.name.lower()}_y_px"] = result.clean.xy[:, int(lm), 1]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for i in range(pose.n_frames):
        w.writerow([_fmt(data[c][i], c) for c in cols])
    return buf.getvalue()


def _fmt(v, col: str) -> str:
    if isinstance(v, (str, np.str_)):
        return str(v)
    if col in ("frame", "person_detected"):
        return str(int(v))
    f = float(v)
    if not np.isfinite(f):
        return ""
    return f"{f:.4f}" if col == "time_s" else f"{f:.3f}"


def reps_csv(result: ScreeningResult) -> str:
    rows = result.rep_rows()
    buf = io.StringIO()
    if not rows:
        buf.write("rep,kind,side,complete,start_s,deepest_s,end_s,start_frame,deepest_frame,end_frame\n")
        return buf.getvalue()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()
