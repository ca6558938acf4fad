"""Pure, broadcasting numpy geometry on image points (pixels, x right, y DOWN).

No I/O, no model, no video. Every function takes ``(..., 2)`` arrays and returns ``(...)``;
NaN in gives NaN out.
"""

from __future__ import annotations

import numpy as np

from .landmarks import Side


def _medial_sign(side: Side) -> float:
    """Image-x direction of "medial" for a leg of a subject facing the camera.

    The subject's left leg appears on the image right, so its medial direction is image −x;
    the right leg's medial direction is image +x.
    """
    return -1.0 if side is Side.LEFT else 1.0


def interior_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle ABC at vertex ``b`` in degrees, in [0, 180]. Works in 2D or 3D."""
    u = np.asarray(a, float) - np.asarray(b, float)
    v = np.asarray(c, float) - np.asarray(b, float)
    if u.shape[-1] == 2:
        cross_n = np.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])
    else:
        cross_n = np.linalg.norm(np.cross(u, v), axis=-1)
    return np.degrees(np.arctan2(cross_n, np.sum(u * v, axis=-1)))


def compute_fppa(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, side: Side) -> np.ndarray:
    """Knee frontal-plane projection angle (FPPA), degrees.

    Magnitude: 180° − ∠(hip, knee, ankle) in the image plane.
    Sign: + when the knee lies medial to the hip→ankle line (valgus, "knee collapse"),
    − when lateral (varus). Assumes a frontal view of a subject facing the camera;
    ``side`` is the subject's side of the leg. Mirroring the image (x → −x) and swapping
    the side gives the same value.
    """
    hip, knee, ankle = (np.asarray(p, float) for p in (hip, knee, ankle))
    magnitude = 180.0 - interior_angle(hip, knee, ankle)
    d = ankle - hip
    k = knee - hip
    # signed perpendicular offset of the knee from the hip→ankle line, along image +x
    cross = d[..., 0] * k[..., 1] - d[..., 1] * k[..., 0]
    # for a line pointing down (+y), cross > 0 means the knee is to the image −x side
    offset_minus_x = np.sign(cross) * np.sign(d[..., 1])
    sign = np.where(offset_minus_x == 0, 1.0, offset_minus_x * -_medial_sign(side))
    return magnitude * sign


def line_tilt_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle of the line a→b against the image horizontal, degrees, + when ``a`` is LOWER (larger y).

    Uses |Δx| so the value does not depend on which of the two points is further right.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.degrees(np.arctan2(a[..., 1] - b[..., 1], np.abs(a[..., 0] - b[..., 0])))


def pelvic_obliquity(left_hip: np.ndarray, right_hip: np.ndarray) -> np.ndarray:
    """Pelvic obliquity, degrees: angle of the hip–hip line against horizontal, + = subject's LEFT hip lower."""
    return line_tilt_deg(left_hip, right_hip)


def trunk_lean(left_hip: np.ndarray, right_hip: np.ndarray, left_shoulder: np.ndarray,
               right_shoulder: np.ndarray) -> np.ndarray:
    """Lateral trunk lean, degrees: mid-hip → mid-shoulder line against the image vertical.

    + = shoulders toward the subject's LEFT. "Left" is taken from the direction right hip → left hip,
    so the sign holds whichever way the subject faces.
    """
    lh, rh, ls, rs = (np.asarray(p, float) for p in (left_hip, right_hip, left_shoulder, right_shoulder))
    mid_hip = (lh + rh) / 2
    mid_sh = (ls + rs) / 2
    up = mid_sh - mid_hip
    left_dir = np.sign(lh[..., 0] - rh[..., 0])
    left_dir = np.where(left_dir == 0, 1.0, left_dir)
    return np.degrees(np.arctan2(up[..., 0] * left_dir, -up[..., 1]))


def hip_adduction(hip: np.ndarray, other_hip: np.ndarray, knee: np.ndarray) -> np.ndarray:
    """Frontal hip adduction, degrees: angle between the pelvis line (pointing laterally, from the
    other hip through this hip) and the thigh (hip → knee), minus 90°. + = adduction (thigh toward
    the midline), − = abduction."""
    hip, other_hip, knee = (np.asarray(p, float) for p in (hip, other_hip, knee))
    lateral = hip - other_hip
    thigh = knee - hip
    cosang = np.sum(lateral * thigh, axis=-1) / (
        np.linalg.norm(lateral, axis=-1) * np.linalg.norm(thigh, axis=-1))
    return np.degrees(np.arccos(np.clip(cosang, -1.0, 1.0))) - 90.0


def knee_over_foot_offset(knee: np.ndarray, ankle: np.ndarray, foot_index: np.ndarray,
                          side: Side) -> np.ndarray:
    """Horizontal offset of the knee from the toe (foot index, ≈ 2nd toe), ÷ shank length (knee–ankle).

    + = knee medial to the toes ("knee falls inside the foot"), − = lateral. Frontal view assumed.
    Dimensionless (shank lengths).
    """
    knee, ankle, foot_index = (np.asarray(p, float) for p in (knee, ankle, foot_index))
    shank = np.linalg.norm(knee - ankle, axis=-1)
    dx = (knee[..., 0] - foot_index[..., 0]) * _medial_sign(side)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shank > 0, dx / shank, np.nan)


def separation_ratio(left_a: np.ndarray, right_a: np.ndarray, left_b: np.ndarray,
                     right_b: np.ndarray) -> np.ndarray:
    """Horizontal distance between the ``a`` pair ÷ horizontal distance between the ``b`` pair.

    Knee separation ratio = separation_ratio(knees, ankles): < 1 knees closer than ankles.
    """
    num = np.abs(np.asarray(left_a, float)[..., 0] - np.asarray(right_a, float)[..., 0])
    den = np.abs(np.asarray(left_b, float)[..., 0] - np.asarray(right_b, float)[..., 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def knee_flexion(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray) -> np.ndarray:
    """Knee flexion, degrees: 180° − ∠(hip, knee, ankle). Use 3D world points for a true flexion angle."""
    return 180.0 - interior_angle(hip, knee, ankle)
