"""Recording-quality gates. Each returns a QualityGate with one sentence telling the user what to change.

Blocking gates (the numbers would be meaningless): ``valid_frames``, ``full_body`` when the legs are
mostly out of view, ``frontal_view`` for side and back views. The others (``distance``, ``frame_rate``,
``single_person``, ``lighting``, ``neutral_baseline``) lower the confidence of findings. Gate thresholds
are heuristics (QualityConfig).
"""

from __future__ import annotations

import warnings

import numpy as np

from .config import QualityConfig
from .landmarks import Landmark as L
from .signal import CleanedPose
from .types import PoseSequence, QualityGate
from .view import body_yaw_deg, turned_gate

_KEY = [L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE]
_PARTS = {
    "hips": [L.LEFT_HIP, L.RIGHT_HIP],
    "knees": [L.LEFT_KNEE, L.RIGHT_KNEE],
    "ankles": [L.LEFT_ANKLE, L.RIGHT_ANKLE],
    "feet": [L.LEFT_HEEL, L.RIGHT_HEEL, L.LEFT_FOOT_INDEX, L.RIGHT_FOOT_INDEX],
    "shoulders": [L.LEFT_SHOULDER, L.RIGHT_SHOULDER],
}


def _nanmedian(a: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmedian(a)) if np.isfinite(a).any() else float("nan")


def valid_frames_gate(pose: PoseSequence, clean: CleanedPose, cfg: QualityConfig) -> QualityGate:
    ok = clean.measured[:, _KEY].all(axis=1)
    frac = float(ok.mean())
    dt = float(np.median(np.diff(pose.timestamps))) if pose.n_frames > 1 else 1.0 / pose.meta.fps
    valid_s = float(ok.sum() * dt)
    if frac >= cfg.min_valid_fraction and valid_s >= cfg.min_valid_s:
        return QualityGate("valid_frames", True, f"Hips, knees and ankles were tracked in {frac:.0%} of frames.",
                           True, 100 * frac, "%")
    if valid_s < cfg.min_valid_s:
        msg = (f"Only {valid_s:.1f} s of the clip shows the hips, knees and ankles clearly; record at least "
               f"{max(cfg.min_valid_s, 3):.0f} s with the whole body in view.")
    else:
        msg = (f"The hips, knees and ankles were tracked in only {frac:.0%} of frames; keep the whole body in "
               "view, in even light, for the whole test.")
    return QualityGate("valid_frames", False, msg, True, 100 * frac, "%")


def full_body_gate(pose: PoseSequence, cfg: QualityConfig) -> QualityGate:
    """Shoulders, hips, knees, ankles and feet inside the picture in ≥ ``full_body_min_fraction`` of the
    frames with a person; blocking when the hips, knees or ankles are out of the picture most of the time."""
    det = pose.detected
    if not det.any():
        return QualityGate("full_body", False, "Nobody was found; film the whole body facing the camera.", True, 0, "%")
    w, h = pose.meta.width, pose.meta.height
    xy = pose.coords[det, :, :2]
    # MediaPipe extrapolates body parts outside the picture to coordinates outside it. Low visibility
    # alone is not counted here: a lifted foot hidden behind the standing leg is not "out of view"
    # (tracking quality is the valid_frames gate's job).
    inside = ((xy[..., 0] >= -0.01 * w) & (xy[..., 0] <= 1.01 * w) & (xy[..., 1] >= -0.01 * h)
              & (xy[..., 1] <= 1.01 * h))
    fractions = {part: float(inside[:, idx].all(axis=1).mean()) for part, idx in _PARTS.items()}
    worst = min(fractions, key=lambda k: fractions[k])
    wf = fractions[worst]
    if wf >= cfg.full_body_min_fraction:
        return QualityGate("full_body", True, "The whole body, shoulders to feet, stays in view.", False, 100 * wf, "%")
    where = {"feet": "move the camera back or tilt it down so the feet stay in the picture",
             "ankles": "move the camera back or tilt it down so the feet stay in the picture",
             "knees": "move the camera back so the whole body stays in the picture",
             "hips": "move the camera back so the whole body stays in the picture",
             "shoulders": "move the camera back or tilt it up so the shoulders stay in the picture"}[worst]
    legs_frac = min(fractions["hips"], fractions["knees"], fractions["ankles"])
    blocking = legs_frac < 0.5
    return QualityGate("full_body", False, f"The {worst} are outside the picture in {1 - wf:.0%} of frames; {where}.",
                       blocking, 100 * wf, "%")


def frontal_view_gate(clean: CleanedPose, cfg: QualityConfig) -> QualityGate:
    """Side view: shoulders and hips seen edge-on (their width ÷ torso length is small). Back view: the
    subject's left shoulder and hip appear on the image left. Uses frames where shoulders and hips are seen."""
    torso_ok = clean.measured[:, [L.LEFT_SHOULDER, L.RIGHT_SHOULDER, L.LEFT_HIP, L.RIGHT_HIP]].all(axis=1)
    xy = clean.xy[torso_ok]
    if xy.shape[0] == 0:
        return QualityGate("frontal_view", False, "The body was not tracked well enough to check the view; "
                           "face the camera with the whole body in view.", True)
    sh_w = np.abs(xy[:, L.LEFT_SHOULDER, 0] - xy[:, L.RIGHT_SHOULDER, 0])
    hip_w = np.abs(xy[:, L.LEFT_HIP, 0] - xy[:, L.RIGHT_HIP, 0])
    mid_sh = (xy[:, L.LEFT_SHOULDER] + xy[:, L.RIGHT_SHOULDER]) / 2
    mid_hip = (xy[:, L.LEFT_HIP] + xy[:, L.RIGHT_HIP]) / 2
    torso = np.linalg.norm(mid_sh - mid_hip, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = _nanmedian((sh_w + hip_w) / 2 / torso)
        facing = np.sign(xy[:, L.LEFT_SHOULDER, 0] - xy[:, L.RIGHT_SHOULDER, 0]) + \
            np.sign(xy[:, L.LEFT_HIP, 0] - xy[:, L.RIGHT_HIP, 0])
    facing_frac = float(np.mean(facing > 0))
    if not np.isfinite(ratio):
        return QualityGate("frontal_view", False, "The shoulders and hips were not tracked; face the camera with "
                           "the whole body in view.", True)
    if ratio < cfg.side_max_ratio:
        return QualityGate("frontal_view", False, "This looks like a side view (shoulders and hips seen edge-on); "
                           "turn to face the camera, square on, and record again.", True, ratio, "width/torso")
    if facing_frac < 0.4:
        return QualityGate("frontal_view", False, "The person seems to face away from the camera (a back view); "
                           "turn to face the camera and record again.", True, ratio, "width/torso")
    turned = turned_gate(body_yaw_deg(clean))  # yaw from world-landmark depth (view.py)
    if turned is not None:
        return turned
    if ratio < cfg.frontal_min_ratio:
        return QualityGate("frontal_view", False, "The body is turned at an angle to the camera, which distorts knee "
                           "and pelvis angles; stand square to the camera.", False, ratio, "width/torso")
    return QualityGate("frontal_view", True, "Frontal view: the person faces the camera.", True, ratio, "width/torso")


def distance_gate(clean: CleanedPose, ok: np.ndarray, height: int, cfg: QualityConfig) -> QualityGate:
    xy = clean.xy[ok]
    if xy.shape[0] == 0:
        return QualityGate("distance", False, "The body was not tracked; stand 2–4 m from the camera.", False)
    top = np.nanmin(xy[:, [L.NOSE, L.LEFT_EYE, L.RIGHT_EYE, L.LEFT_SHOULDER, L.RIGHT_SHOULDER], 1], axis=1)
    bottom = np.nanmax(xy[:, [L.LEFT_ANKLE, L.RIGHT_ANKLE, L.LEFT_HEEL, L.RIGHT_HEEL], 1], axis=1)
    px = _nanmedian(bottom - top)
    frac = px / height
    if not np.isfinite(px):
        return QualityGate("distance", False, "Head and feet were not both tracked; keep the whole body in view.",
                           False)
    if frac < cfg.min_body_height_fraction or px < cfg.min_body_height_px:
        return QualityGate("distance", False,
                           f"The person fills only {frac:.0%} of the picture height ({px:.0f} px); move closer "
                           "(about 2–4 m) so the body, head to feet, fills most of the frame.", False, 100 * frac, "%")
    return QualityGate("distance", True, f"The person fills {frac:.0%} of the picture height.", False, 100 * frac, "%")


def recorded_fps(pose: PoseSequence) -> float:
    """The recording's frame rate, from the pose alone: the analysed rate times the median step between
    analysed source frames (a 30 fps clip analysed at 15 frames/s has every 2nd frame). The same in
    ``screen`` and in ``reanalyse`` of its pose.npz, whatever --max-fps was."""
    if pose.n_frames < 2:
        return float(pose.meta.fps)
    step = float(np.median(np.diff(pose.frame_indices)))
    return pose.fps * max(step, 1.0)


def frame_rate_gate(pose: PoseSequence, cfg: QualityConfig, max_fps: float | None = None) -> QualityGate:
    """Judges the recording's frame rate (:func:`recorded_fps`), not the analysed one; a recording thinned
    by --max-fps below ``min_fps`` passes with a note. ``max_fps`` is ignored (kept for old callers)."""
    rec, fps = recorded_fps(pose), pose.fps
    if rec + 0.5 < cfg.min_fps:
        return QualityGate("frame_rate", False,
                           f"The clip was recorded at only {rec:.0f} frames/s, too few to catch the deepest point "
                           f"of fast movements; record at {max(30, cfg.min_fps):.0f} frames/s or more.", False,
                           rec, "frames/s")
    if fps + 0.5 >= rec:
        msg = f"Recorded and analysed at {rec:.0f} frames/s."
    elif fps + 0.5 >= cfg.min_fps:
        msg = f"Recorded at {rec:.0f} frames/s, analysed at {fps:.0f} frames/s (--max-fps)."
    else:
        msg = (f"Recorded at {rec:.0f} frames/s but analysed at only {fps:.0f} frames/s (--max-fps), which can "
               f"miss the deepest point of fast movements; analyse with --max-fps {cfg.min_fps:.0f} or more.")
    return QualityGate("frame_rate", True, msg, False, rec, "frames/s")


def single_person_gate(pose: PoseSequence) -> QualityGate:
    checked = int(pose.extra.get("other_people_checks", 0))
    found = int(pose.extra.get("other_people_found", 0))
    if checked == 0:
        return QualityGate("single_person", True, "Other people in view were not checked for this clip.", False)
    if found:
        return QualityGate("single_person", False,
                           f"Another person was seen in {found} of {checked} checked frames; film with only the "
                           "person being screened in view, so the tracker cannot jump to someone else.", False,
                           found, "frames")
    return QualityGate("single_person", True, "Only one person in view.", False, 0, "frames")


def brightness(pose: PoseSequence) -> float | None:
    """Median brightness (mean luma, 0–255) of the analysed frames, or None when it was not recorded
    (a pose.npz from an older chainscan, or landmarks from the live camera)."""
    luma = np.asarray(pose.extra.get("luma") or [], dtype=float)
    luma = luma[np.isfinite(luma)]
    return float(np.median(luma)) if luma.size else None


def lighting_gate(pose: PoseSequence, cfg: QualityConfig) -> QualityGate:
    """Too dark: the model loses or misplaces joints in dim footage (threshold: QualityConfig.min_brightness,
    heuristic, from darkened test clips)."""
    level = brightness(pose)
    if level is None:
        return QualityGate("lighting", True, "Lighting was not checked for these landmarks.", False)
    if level < cfg.min_brightness:
        return QualityGate("lighting", False,
                           f"The clip is too dark (brightness {level:.0f} of 255), so joints are tracked less "
                           "reliably; add light (switch the lights on or face a window) and record again.", False,
                           level, "luma 0-255")
    return QualityGate("lighting", True, f"Lighting is sufficient (brightness {level:.0f} of 255).", False, level,
                       "luma 0-255")


def baseline_gate(source: str) -> QualityGate:
    if source == "clip":
        return QualityGate("neutral_baseline", True, "Quiet standing found: pelvis and trunk are measured "
                           "relative to it.", False)
    if source == "separate":
        return QualityGate("neutral_baseline", True, "Pelvis and trunk are measured relative to the separate "
                           "standing clip.", False)
    return QualityGate("neutral_baseline", False, "No quiet standing was found, so pelvis and trunk angles are "
                       "relative to the image, not to your own posture; stand still, facing the camera, for 2 s "
                       "before the test.", False)


#: when several blocking gates fail, the root cause is reported first
_PRIORITY = {"frontal_view": 0, "full_body": 1, "valid_frames": 2}


def blocking_failures(gates: list[QualityGate]) -> list[QualityGate]:
    """Failed blocking gates, most fundamental first (a side view explains poorly tracked legs)."""
    failed = [g for g in gates if g.blocking and not g.passed]
    return sorted(failed, key=lambda g: _PRIORITY.get(g.gate, 9))
