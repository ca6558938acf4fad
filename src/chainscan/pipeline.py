"""The one entry point the CLI and dashboard call: video or stored pose → ScreeningResult."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from . import metrics as m
from . import quality as q
from .config import ScreeningConfig
from .errors import InsufficientData, QualityGateFailed
from .extract import Progress, extract_pose
from .io.pose import PoseEstimator
from .io.video import probe
from .landmarks import Landmark as L
from .landmarks import Side
from .result import ScreeningResult, now_iso
from .rules import evaluate
from .segmentation import find_neutral, segment
from .signal import CleanedPose, clean_pose
from .types import PoseSequence, TestType

_LOWER = [L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE]


def _baseline_from(clean: CleanedPose, pose: PoseSequence, series: dict[str, np.ndarray],
                   foot_lift_raw: np.ndarray, window: tuple[int, int] | None, source: str) -> m.Baseline:
    y = m.mid_hip_y(clean.xy)
    if window is None:
        with np.errstate(all="ignore"):
            standing = float(np.nanpercentile(y, 5)) if np.isfinite(y).any() else float("nan")
        return m.Baseline("none", None, None, 0.0, 0.0, standing, clean.leg_length_px, 0.0)
    s, e = window

    def med(a: np.ndarray) -> float:
        w = a[s:e]
        return float(np.nanmedian(w)) if np.isfinite(w).any() else 0.0

    legs = np.concatenate([np.linalg.norm(clean.xy[s:e, L.LEFT_HIP] - clean.xy[s:e, L.LEFT_ANKLE], axis=-1),
                           np.linalg.norm(clean.xy[s:e, L.RIGHT_HIP] - clean.xy[s:e, L.RIGHT_ANKLE], axis=-1)])
    leg = float(np.nanmedian(legs)) if np.isfinite(legs).any() else clean.leg_length_px
    return m.Baseline(source, s, e - 1, med(series["pelvic_obliquity_deg"]), med(series["trunk_lean_deg"]),
                      med(y), leg, med(foot_lift_raw))


def _analyse_landmarks(pose: PoseSequence, cfg: ScreeningConfig):
    clean = clean_pose(pose, cfg.signal)
    series = m.frame_metrics(clean.xy, clean.world)
    foot_lift_raw = m.raw_foot_lift(clean.xy, clean.world, clean.leg_length_px)
    return clean, series, foot_lift_raw


def neutral_baseline(pose: PoseSequence, config: ScreeningConfig | None = None) -> m.Baseline:
    """Baseline from a separate clip of quiet standing (its quietest window, else all of it).

    The clip must pass the same blocking gates as a test clip (tracked, whole body, frontal view):
    a baseline filmed from behind or the side would shift every pelvis and trunk angle.
    """
    cfg = config or ScreeningConfig()
    clean, series, lift = _analyse_landmarks(pose, cfg)
    # a few still frames make a baseline: only the duration requirement is relaxed
    qcfg = dataclasses.replace(cfg.quality, min_valid_s=min(cfg.quality.min_valid_s, 0.15))
    gates = [q.valid_frames_gate(pose, clean, qcfg), q.full_body_gate(pose, qcfg), q.frontal_view_gate(clean, qcfg)]
    blocking = q.blocking_failures(gates)
    if blocking:
        raise QualityGateFailed(f"The standing (baseline) clip cannot be used: {blocking[0].message}", gates, pose)
    kf = np.stack([series["knee_flexion_left_deg"], series["knee_flexion_right_deg"]])
    win = find_neutral(clean.xy, pose.timestamps, kf, lift, clean.leg_length_px, min_s=0.2)
    if win is None:
        win = (0, pose.n_frames)
    return _baseline_from(clean, pose, series, lift, win, "separate")


#: failed recording gates that can explain why no test was recognised, most likely cause first
_CAUSES = ("single_person", "lighting", "full_body", "frontal_view", "distance", "valid_frames", "frame_rate")


def _probably_why(cause: str, effect: str) -> str:
    """Join two messages as: CAUSE — probably why EFFECT (the effect's first clause)."""
    what = effect.split(";")[0].rstrip(".")
    return f"{cause.rstrip('.')} — probably why {what[:1].lower()}{what[1:]}."


def _segmentation_failure(e: InsufficientData, gates: list, pose: PoseSequence) -> InsufficientData:
    """No test or no rep was recognised: when recording gates failed, say those first (they are the likely
    cause: another person in view, a dark or angled clip, feet out of the picture…), then what was not found."""
    failed = sorted((g for g in gates if not g.passed and g.gate in _CAUSES), key=lambda g: _CAUSES.index(g.gate))
    if not failed:
        return e
    msg = _probably_why(failed[0].message, str(e))
    if len(failed) > 1:
        msg += " Also: " + " ".join(g.message for g in failed[1:])
    return QualityGateFailed(msg, gates, pose)


def screen_pose(pose: PoseSequence, config: ScreeningConfig | None = None, *, test: TestType | None = None,
                side: Side | None = None, baseline: m.Baseline | None = None,
                max_fps: float | None = None) -> ScreeningResult:
    """Analyse a stored PoseSequence: milliseconds, no model. Raises QualityGateFailed / InsufficientData.

    ``max_fps`` is not used (the frame-rate gate reads the recording's rate from the pose itself, so a
    re-analysis of the stored pose agrees with the screen); it is kept for old callers."""
    cfg = config or ScreeningConfig()
    cfg.validate()
    clean, series, foot_lift_raw = _analyse_landmarks(pose, cfg)
    raw = m.frame_metrics(pose.coords[:, :, :2].astype(np.float64), pose.world.astype(np.float64))
    ok = clean.measured[:, _LOWER].all(axis=1)
    gates = [
        q.valid_frames_gate(pose, clean, cfg.quality),
        q.full_body_gate(pose, cfg.quality),
        q.frontal_view_gate(clean, cfg.quality),
        q.distance_gate(clean, ok, pose.meta.height, cfg.quality),
        q.frame_rate_gate(pose, cfg.quality),
        q.single_person_gate(pose),
        q.lighting_gate(pose, cfg.quality),
    ]
    blocking = q.blocking_failures(gates)
    if blocking:
        lighting = gates[-1]
        msg = blocking[0].message
        if not lighting.passed and blocking[0].gate == "valid_frames":  # dim footage loses the joints
            msg = _probably_why(lighting.message, msg)
        raise QualityGateFailed(msg, gates, pose)

    if baseline is None:
        kf = np.stack([series["knee_flexion_left_deg"], series["knee_flexion_right_deg"]])
        win = find_neutral(clean.xy, pose.timestamps, kf, foot_lift_raw, clean.leg_length_px)
        baseline = _baseline_from(clean, pose, series, foot_lift_raw, win, "clip")
    gates.append(q.baseline_gate(baseline.source))
    series.update(m.relative_series(clean.xy, foot_lift_raw, baseline))
    series["pelvic_obliquity_rel_deg"] = series["pelvic_obliquity_deg"] - baseline.pelvic_obliquity_deg
    series["trunk_lean_rel_deg"] = series["trunk_lean_deg"] - baseline.trunk_lean_deg
    try:
        seg = segment(clean.xy, pose.timestamps, series, baseline, cfg.segmentation, test=test, side=side)
    except InsufficientData as e:
        raise _segmentation_failure(e, gates, pose) from None
    series.update(m.support_series(series, seg.stance, baseline))
    findings = evaluate(seg, series, pose.timestamps, cfg, gates)
    return ScreeningResult(pose=pose, clean=clean, series=series, raw=raw, baseline=baseline, segmentation=seg,
                           findings=tuple(findings), quality=tuple(gates), config=cfg, created=now_iso())


def baseline_pose_from_video(video: str | os.PathLike, estimator: PoseEstimator | None = None, *,
                             max_fps: float | None = None,
                             model_path: str | os.PathLike | None = None) -> PoseSequence:
    """Landmarks of a separate quiet-standing clip (its own model instance: tracking state must not carry
    over from one clip to the next). Stored as baseline_pose.npz so ``reanalyse`` can reuse it."""
    return extract_pose(video, estimator, max_fps=max_fps, check_other_people=False, model_path=model_path)


def screen_video(video: str | os.PathLike, config: ScreeningConfig | None = None, *,
                 test: TestType | None = None, side: Side | None = None,
                 estimator: PoseEstimator | None = None, model_path: str | os.PathLike | None = None,
                 max_fps: float | None = None, baseline_video: str | os.PathLike | None = None,
                 baseline_pose: PoseSequence | None = None,
                 progress: Progress | None = None, workers: int = 1) -> tuple[ScreeningResult, PoseSequence]:
    """Video → pose (the slow part) → ScreeningResult. Returns the result and the PoseSequence to cache.

    The neutral baseline comes from ``baseline_pose`` (landmarks of a separate standing clip, see
    :func:`baseline_pose_from_video`), else from ``baseline_video``, else from quiet standing in the clip.
    ``workers`` > 1 runs pose extraction in that many parallel processes (see ``extract_pose``; not
    with a given ``estimator``). If screening fails a blocking gate, the exception carries the pose in
    ``.pose`` for inspection.
    """
    cfg = config or ScreeningConfig()
    cfg.validate()
    if workers <= 1 or estimator is not None:
        probe(video)  # a bad file is reported before the model is loaded (the parallel path probes it itself,
        # while its workers start)
    if baseline_pose is None and baseline_video is not None:
        probe(baseline_video)
        baseline_pose = baseline_pose_from_video(baseline_video, estimator, max_fps=max_fps, model_path=model_path)
    base = neutral_baseline(baseline_pose, cfg) if baseline_pose is not None else None
    pose = extract_pose(video, estimator, max_fps=max_fps, progress=progress, model_path=model_path,
                        workers=workers if estimator is None else 1)
    try:
        return screen_pose(pose, cfg, test=test, side=side, baseline=base), pose
    except QualityGateFailed as e:
        e.pose = pose
        raise
