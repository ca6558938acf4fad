"""Per-frame, per-side metrics from cleaned landmarks. Every series is (T,) float, NaN where unknown.

Names are the frames.csv column names and carry their unit. Sign conventions (CLINICAL.md):
- knee_fppa_*_deg: + knee medial to the hip→ankle line (valgus), − lateral (varus).
- knee_separation_ratio: knee distance ÷ ankle distance (horizontal); < 1 knees closer than ankles.
- knee_over_foot_*_shanklen: knee offset from the toe (foot index) ÷ shank length; + medial.
- pelvic_obliquity_deg: hip line vs horizontal; + the subject's LEFT hip lower in the image.
- trunk_lean_deg: mid-hip→mid-shoulder line vs vertical; + shoulders toward the subject's LEFT.
- hip_adduction_*_deg: pelvis line vs thigh − 90°; + adduction.
- knee_flexion_*_deg: 3D, from world landmarks; 0 = straight.
- squat_depth_leglen: mid-hip drop below neutral standing ÷ leg length; + lower.
- foot_lift_leglen: left ankle height above the right ankle ÷ leg length, relative to standing; + left foot higher.
- pelvic_drop_deg: (obliquity − baseline) toward the unsupported side during single-leg support;
  + the contralateral (lifted-leg) side lower. NaN in double support.
- trunk_lean_ipsi_deg: (lean − baseline) toward the stance leg during single-leg support; + ipsilateral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import geometry as g
from .landmarks import Landmark as L
from .landmarks import Side

#: unit of every series, for the CSV header and the docs
UNITS: dict[str, str] = {
    "knee_fppa_left_deg": "deg", "knee_fppa_right_deg": "deg",
    "knee_separation_ratio": "ratio", "knee_over_foot_left_shanklen": "shank lengths",
    "knee_over_foot_right_shanklen": "shank lengths", "pelvic_obliquity_deg": "deg", "trunk_lean_deg": "deg",
    "hip_adduction_left_deg": "deg", "hip_adduction_right_deg": "deg",
    "knee_flexion_left_deg": "deg", "knee_flexion_right_deg": "deg",
    "squat_depth_leglen": "leg lengths", "foot_lift_leglen": "leg lengths",
    "pelvic_drop_deg": "deg", "trunk_lean_ipsi_deg": "deg",
}

#: series computed frame by frame from landmarks alone (raw versions exist for these)
FRAME_SERIES = ("knee_fppa_left_deg", "knee_fppa_right_deg", "knee_separation_ratio",
                "knee_over_foot_left_shanklen", "knee_over_foot_right_shanklen", "pelvic_obliquity_deg",
                "trunk_lean_deg",
                "hip_adduction_left_deg", "hip_adduction_right_deg", "knee_flexion_left_deg",
                "knee_flexion_right_deg")


def _p(xy: np.ndarray, lm: L) -> np.ndarray:
    return xy[:, int(lm)]


def frame_metrics(xy: np.ndarray, world: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics that need only one frame's landmarks. ``xy`` (T, 33, 2) px; ``world`` (T, 33, ≥3) m."""
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for side in (Side.LEFT, Side.RIGHT):
            s = side.value
            hip, knee, ankle = (_p(xy, getattr(L, f"{side.name}_{j}")) for j in ("HIP", "KNEE", "ANKLE"))
            other_hip = _p(xy, getattr(L, f"{side.other.name}_HIP"))
            toe = _p(xy, getattr(L, f"{side.name}_FOOT_INDEX"))
            out[f"knee_fppa_{s}_deg"] = g.compute_fppa(hip, knee, ankle, side)
            out[f"knee_over_foot_{s}_shanklen"] = g.knee_over_foot_offset(knee, ankle, toe, side)
            out[f"hip_adduction_{s}_deg"] = g.hip_adduction(hip, other_hip, knee)
            wh, wk, wa = (world[:, int(getattr(L, f"{side.name}_{j}")), :3] for j in ("HIP", "KNEE", "ANKLE"))
            out[f"knee_flexion_{s}_deg"] = g.knee_flexion(wh, wk, wa)
        out["knee_separation_ratio"] = g.separation_ratio(
            _p(xy, L.LEFT_KNEE), _p(xy, L.RIGHT_KNEE), _p(xy, L.LEFT_ANKLE), _p(xy, L.RIGHT_ANKLE))
        out["pelvic_obliquity_deg"] = g.pelvic_obliquity(_p(xy, L.LEFT_HIP), _p(xy, L.RIGHT_HIP))
        out["trunk_lean_deg"] = g.trunk_lean(_p(xy, L.LEFT_HIP), _p(xy, L.RIGHT_HIP),
                                             _p(xy, L.LEFT_SHOULDER), _p(xy, L.RIGHT_SHOULDER))
    return {k: out[k] for k in FRAME_SERIES}


def mid_hip_y(xy: np.ndarray) -> np.ndarray:
    return (xy[:, L.LEFT_HIP, 1] + xy[:, L.RIGHT_HIP, 1]) / 2


def raw_foot_lift(xy: np.ndarray, world: np.ndarray, leg_px: float) -> np.ndarray:
    """Left ankle height above the right ankle, in leg lengths (image and world combined, see combine_lift).

    Image: (y_right − y_left) ÷ leg length in pixels. World: the same from metric landmarks ÷ metric
    leg length. The world estimate stays right when the lifted foot comes toward the camera (which
    makes it look lower in the image).
    """
    img = (xy[:, L.RIGHT_ANKLE, 1] - xy[:, L.LEFT_ANKLE, 1]) / leg_px
    wl = np.linalg.norm(world[:, L.LEFT_HIP, :3] - world[:, L.LEFT_ANKLE, :3], axis=-1)
    wr = np.linalg.norm(world[:, L.RIGHT_HIP, :3] - world[:, L.RIGHT_ANKLE, :3], axis=-1)
    with np.errstate(invalid="ignore"):
        leg_w = np.nanmedian(np.concatenate([wl, wr])) if np.isfinite(wl).any() else np.nan
    wld = (world[:, L.RIGHT_ANKLE, 1] - world[:, L.LEFT_ANKLE, 1]) / leg_w
    return combine_lift(img, wld)


def combine_lift(img: np.ndarray, wld: np.ndarray) -> np.ndarray:
    """Keep a foot lift only where image and world agree on its direction; take their geometric mean.

    Perspective makes the nearer foot look lower in the image (an oblique view, a forward-held foot), and
    MediaPipe's world landmarks under-read a lift: requiring both to agree avoids "lifts" that are only
    viewing geometry, and the geometric mean (dominated by the smaller) keeps a clear lift that the world
    estimate halves. Chosen on the rendered benchmark grid and the real clips: the minimum missed a
    rendered lift, the arithmetic mean took an oblique barbell squat for a single-leg squat.
    Where one estimate is missing, the other is used.
    """
    both = np.isfinite(img) & np.isfinite(wld)
    agree = np.where(np.sign(img) == np.sign(wld), np.sign(img) * np.sqrt(np.abs(img * wld)), 0.0)
    return np.where(both, agree, np.where(np.isfinite(img), img, wld))


@dataclass(frozen=True)
class Baseline:
    """Neutral quiet standing: the reference for pelvis, trunk, depth and foot lift.

    ``source``: "clip" (quiet standing found in the clip), "separate" (a baseline clip), or "none"
    (values are then zero, i.e. relative to the image axes, and a quality warning says so).
    """

    source: str
    start: int | None
    end: int | None
    pelvic_obliquity_deg: float
    trunk_lean_deg: float
    mid_hip_y_px: float
    leg_length_px: float
    foot_lift: float

    def to_dict(self) -> dict:
        def r(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), 3)
        return {"source": self.source, "start_frame": self.start, "end_frame": self.end,
                "pelvic_obliquity_deg": r(self.pelvic_obliquity_deg), "trunk_lean_deg": r(self.trunk_lean_deg),
                "mid_hip_y_px": r(self.mid_hip_y_px), "leg_length_px": r(self.leg_length_px),
                "foot_lift_leglen": r(self.foot_lift)}


def relative_series(xy: np.ndarray, foot_lift_raw: np.ndarray, base: Baseline) -> dict[str, np.ndarray]:
    """Depth and foot lift relative to the baseline."""
    depth = (mid_hip_y(xy) - base.mid_hip_y_px) / base.leg_length_px
    return {"squat_depth_leglen": depth, "foot_lift_leglen": foot_lift_raw - base.foot_lift}


def support_series(series: dict[str, np.ndarray], stance: np.ndarray, base: Baseline) -> dict[str, np.ndarray]:
    """Pelvic drop and ipsilateral trunk lean given the stance leg per frame.

    ``stance``: (T,) array of +1 (left stance), −1 (right stance), 0 (double support / unknown).
    """
    obl = series["pelvic_obliquity_deg"] - base.pelvic_obliquity_deg
    lean = series["trunk_lean_deg"] - base.trunk_lean_deg
    s = stance.astype(float)
    s[s == 0] = np.nan
    # left stance (+1): contralateral = right hip lower = obliquity negative → drop = −obl
    return {"pelvic_drop_deg": -s * obl, "trunk_lean_ipsi_deg": s * lean}
