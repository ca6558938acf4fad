"""How far the body is turned away from the camera (yaw), from MediaPipe's world landmarks.

A frontal screen needs the person square to the camera: with the knee bent, a turned body rotates knee
flexion into the image plane. On chainscan's rendered benchmark (docs/validation.md) a camera 30° round
to the side turned a true +12° knee valgus into a reading of −18°, and 15° still cost ~14°; the
shoulder/hip-width check of the frontal-view gate barely moved (width ÷ torso 0.56 → 0.50), so it cannot
see this.

The estimate: MediaPipe's world landmarks carry depth, so the left−right shoulder line and hip line each
give a horizontal angle against the image plane, atan2(Δdepth, Δx). Their summed direction per frame,
median over the clip, is the body yaw. + = the subject's LEFT side farther from the camera (its right side
nearer: the subject turned to its left, or the camera stands to its right). Measured on the rendered grid:
square-on clips read +2…+9° (median over a clip +3…+6°), 15° clips +14° (standing) / +24° (single-leg
squat, where hip flexion adds depth), 30° clips +30…+41°; on real footage the nearly frontal Pose2Sim
camera read −4°, the front-oblique one +38°, an oblique barbell squat −40°. Thresholds are heuristics.
"""

from __future__ import annotations

import warnings

import numpy as np

from .landmarks import Landmark as L
from .signal import CleanedPose
from .types import QualityGate

#: median body yaw (°) from which knee-angle and pelvis findings are not measurable (heuristic, see module text)
TURNED_YAW_DEG = 20.0
#: unit string the frontal-view gate uses when it fails because the body is turned (read by the rules)
YAW_UNIT = "° yaw"

_TORSO = [L.LEFT_SHOULDER, L.RIGHT_SHOULDER, L.LEFT_HIP, L.RIGHT_HIP]


def yaw_series(world: np.ndarray) -> np.ndarray:
    """Per-frame body yaw (°) from world landmarks (T, 33, 3): the summed left−right shoulder and hip vectors,
    horizontal angle against the image plane. NaN where shoulders or hips are missing."""
    w = np.asarray(world, float)
    d = (w[:, L.LEFT_SHOULDER] - w[:, L.RIGHT_SHOULDER]) + (w[:, L.LEFT_HIP] - w[:, L.RIGHT_HIP])
    with np.errstate(invalid="ignore"):
        return np.degrees(np.arctan2(d[:, 2], d[:, 0]))


def body_yaw_deg(clean: CleanedPose) -> float:
    """Median body yaw (°) over the frames whose shoulders and hips were measured; NaN when there are none."""
    ok = clean.measured[:, _TORSO].all(axis=1)
    y = yaw_series(clean.world)[ok]
    y = y[np.isfinite(y)]
    if y.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.median(y))


def turned_gate(yaw: float) -> QualityGate | None:
    """The failed frontal-view gate for a body turned ≥ TURNED_YAW_DEG, or None when the yaw is acceptable.
    Not blocking: trunk lean and timing stay usable (rendered benchmark: trunk lean within 0.1° at 30°)."""
    if not np.isfinite(yaw) or abs(yaw) < TURNED_YAW_DEG:
        return None
    near = "right" if yaw > 0 else "left"
    return QualityGate("frontal_view", False,
                       f"The body is turned about {abs(yaw):.0f}° away from the camera (its {near} side nearer), "
                       "which distorts knee and pelvis angles; turn to face the camera square on and record again.",
                       False, float(yaw), YAW_UNIT)


def turned_yaw(gates: list[QualityGate]) -> float | None:
    """The body yaw (°) if the frontal-view gate failed because the body is turned, else None."""
    for g in gates:
        if g.gate == "frontal_view" and not g.passed and g.unit == YAW_UNIT and g.value is not None:
            return float(g.value)
    return None
