"""Which test a clip shows, which leg stands, and where each rep or stance period lies.

All frame numbers are PoseSequence rows. Heuristics (thresholds in SegmentationConfig):
- neutral baseline: the first ≥ 0.5 s of quiet standing (both feet down, hips at standing height,
  knees straight, little motion);
- single-leg support: one ankle above the other by ``foot_lift_threshold`` leg lengths (until it is back
  within half of that) for ≥ ``min_single_leg_s``; dips shorter than ``min_touchdown_s`` are not touch-downs;
- reps: peaks of squat depth (hip drop ÷ leg length) with prominence ≥ max(``min_rep_depth``,
  ``rep_prominence_fraction`` × range) and ≥ ``min_rep_interval_s`` apart (after OpenCap's squat
  analysis); a rep starts and ends where depth is back within ``rep_boundary_fraction`` of its peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SegmentationConfig
from .errors import InsufficientData
from .landmarks import Landmark as L
from .landmarks import Side
from .metrics import Baseline, mid_hip_y, support_series
from .signal import find_peaks, peak_widths
from .types import Segment, TestType


@dataclass(frozen=True)
class StanceStats:
    """Single-leg support on one side: longest continuous hold, total time, touch-downs."""

    side: Side
    hold_s: float
    total_s: float
    touchdowns: int
    ended_by_touchdown: bool

    def to_dict(self) -> dict:
        return {"side": self.side.value, "hold_s": round(self.hold_s, 2), "total_s": round(self.total_s, 2),
                "touchdowns": self.touchdowns, "ended_by_touchdown": self.ended_by_touchdown}


@dataclass(frozen=True)
class Segmentation:
    test: TestType
    stance_side: Side | None
    segments: tuple[Segment, ...]
    stance: np.ndarray            # (T,) +1 left stance, −1 right stance, 0 double support
    stance_stats: tuple[StanceStats, ...] = ()
    auto_test: bool = True


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _duration(t: np.ndarray, s: int, e: int) -> float:
    """Seconds covered by rows [s, e) (one frame interval added for the last frame)."""
    dt = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return float(t[e - 1] - t[s] + dt)


def find_neutral(xy: np.ndarray, t: np.ndarray, knee_flexion: np.ndarray, foot_lift_raw: np.ndarray,
                 leg_px: float, min_s: float = 0.5) -> tuple[int, int] | None:
    """[start, end) of the first quiet-standing window of at least ``min_s`` seconds, or None."""
    y = mid_hip_y(xy)
    if not np.isfinite(y).any() or not np.isfinite(leg_px):
        return None
    standing_y = np.nanpercentile(y, 5)
    dt = np.gradient(t)
    pts = xy[:, [L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE]]
    with np.errstate(invalid="ignore"):
        speed = np.nan_to_num(np.nanmax(np.linalg.norm(np.gradient(pts, axis=0), axis=-1) / dt[:, None], axis=1)
                              / leg_px, nan=np.inf)
    with np.errstate(invalid="ignore"):
        kf = np.nan_to_num(np.nanmax(knee_flexion, axis=0) if knee_flexion.ndim > 1 else knee_flexion, nan=0.0)
        quiet = ((y <= standing_y + 0.04 * leg_px) & (speed < 0.25) & (kf < 25.0)
                 & (np.abs(np.nan_to_num(foot_lift_raw, nan=1.0)) < 0.06))
    best = None
    for s, e in _runs(quiet):
        if _duration(t, s, e) >= min_s:
            return (s, e)
        if best is None or (e - s) > (best[1] - best[0]):
            best = (s, e)
    if best is not None and _duration(t, *best) >= 0.3:
        return best
    return None


def _clean_mask(mask: np.ndarray, t: np.ndarray, min_on_s: float, min_off_s: float) -> np.ndarray:
    """Close gaps shorter than ``min_off_s``, then drop runs shorter than ``min_on_s``."""
    m = mask.copy()
    for s, e in _runs(~m):
        if s > 0 and e < m.size and _duration(t, s, e) < min_off_s:
            m[s:e] = True
    for s, e in _runs(m):
        if _duration(t, s, e) < min_on_s:
            m[s:e] = False
    return m


def _hysteresis(x: np.ndarray, on: float, off: float) -> np.ndarray:
    """True from where ``x`` rises above ``on`` until it falls below ``off`` (a Schmitt trigger)."""
    out = np.zeros(x.size, bool)
    state = False
    for i, v in enumerate(x):
        if not np.isfinite(v):
            out[i] = state
            continue
        state = v > on if not state else v > off
        out[i] = state
    return out


def support_pattern(foot_lift: np.ndarray, t: np.ndarray, cfg: SegmentationConfig) -> np.ndarray:
    """(T,) +1 standing on the LEFT leg (right foot up), −1 on the RIGHT leg, 0 both feet down.

    A foot counts as lifted once it rises ``foot_lift_threshold`` leg lengths above the other and
    until it comes back within half of that (hysteresis: a swinging foot passing low is not a touch-down).
    """
    on, off = cfg.foot_lift_threshold, 0.5 * cfg.foot_lift_threshold
    right_up = _clean_mask(_hysteresis(-foot_lift, on, off), t, cfg.min_single_leg_s, cfg.min_touchdown_s)
    left_up = _clean_mask(_hysteresis(foot_lift, on, off), t, cfg.min_single_leg_s, cfg.min_touchdown_s)
    stance = np.zeros(foot_lift.shape[0], np.int8)
    stance[right_up] = 1
    stance[left_up] = -1
    stance[right_up & left_up] = 0
    return stance


def find_reps(depth: np.ndarray, t: np.ndarray, cfg: SegmentationConfig,
              mask: np.ndarray | None = None) -> list[tuple[int, int, int, bool]]:
    """Squat reps as (start, deepest, end, complete) rows, from the depth series (+ = lower).

    ``mask`` limits the search (e.g. to single-leg support on one side).
    """
    d = depth.astype(float).copy()
    if mask is not None:
        d[~mask] = np.nan
    fin = np.isfinite(d)
    if fin.sum() < 5:
        return []
    lo, hi = np.nanpercentile(d, 2), np.nanpercentile(d, 98)
    floor = np.nanmin(d)
    d_f = np.where(fin, d, floor)
    prom = max(cfg.min_rep_depth, cfg.rep_prominence_fraction * (hi - lo))
    dt = float(np.median(np.diff(t)))
    dist = max(1, int(round(cfg.min_rep_interval_s / dt)))
    peaks, props = find_peaks(d_f, prominence=prom, distance=dist)
    if peaks.size == 0:
        return []
    widths = peak_widths(d_f, peaks, rel_height=1.0 - cfg.rep_boundary_fraction,
                         prominence_data=(props["prominences"], props["left_bases"], props["right_bases"]))
    reps = []
    prev_end = 0
    for k, p in enumerate(peaks):
        s = int(np.floor(widths[2][k]))
        e = int(np.ceil(widths[3][k]))
        s = max(s, prev_end)
        e = min(e, d.size - 1)
        if k + 1 < peaks.size:
            e = min(e, int(peaks[k + 1]))
        # walk outward past the boundary level while the body is still moving (depth still falling away)
        eps = 0.01 * props["prominences"][k]
        while s > prev_end and d_f[s - 1] < d_f[s] - eps:
            s -= 1
        nxt = int(peaks[k + 1]) if k + 1 < peaks.size else d.size - 1
        while e < nxt and d_f[e + 1] < d_f[e] - eps:
            e += 1
        level = d_f[p] - (1.0 - cfg.rep_boundary_fraction) * props["prominences"][k]
        complete = bool(d_f[s] <= level + 1e-9 and d_f[e] <= level + 1e-9 and s > 0 and e < d.size - 1)
        reps.append((s, int(p), e, complete))
        prev_end = e
    return reps


def segment(xy: np.ndarray, t: np.ndarray, series: dict[str, np.ndarray], base: Baseline,
            cfg: SegmentationConfig, test: TestType | None = None, side: Side | None = None) -> Segmentation:
    """Recognise the test (unless ``test`` is given), the stance side (unless ``side``), and segments."""
    foot_lift = series["foot_lift_leglen"]
    depth = series["squat_depth_leglen"]
    stance = support_pattern(foot_lift, t, cfg)
    if side is not None:
        want = 1 if side is Side.LEFT else -1
        stance = np.where(stance == want, stance, 0).astype(np.int8)
    single_s = sum(_duration(t, s, e) for s, e in _runs(stance != 0))
    total_s = _duration(t, 0, t.size)
    auto = test is None
    if test is None and side is not None and single_s == 0:
        raise InsufficientData(
            f"No single-leg support on the {side.value} leg was found; lift the other foot clearly off the floor "
            "(a hand's width), or leave --side on auto.")
    if test is None:
        if single_s >= max(cfg.min_single_leg_s, 0.2 * total_s) or side is not None:
            # a squat needs at least one complete down-and-up; a sway while balancing is not a rep
            single_reps = [r for r in _single_leg_reps(depth, t, stance, series, cfg) if r[3]]
            test = TestType.SINGLE_LEG_SQUAT if single_reps else TestType.SINGLE_LEG_STANCE
        elif any(r[3] for r in find_reps(depth, t, cfg)):
            test = TestType.DOUBLE_LEG_SQUAT
        else:
            raise InsufficientData(
                "No squat or single-leg stance was recognised in the clip; record 3–5 squats, single-leg "
                "squats, or stand on one leg with the other foot clearly off the floor, or choose the test with "
                "--test.")
    if test is TestType.DOUBLE_LEG_SQUAT:
        reps = find_reps(depth, t, cfg)
        if not reps:
            raise InsufficientData(
                "No squat repetitions were found; squat at least a quarter of the way down, 3–5 times, "
                "with the whole body in view.")
        segs = tuple(Segment(test, i, s, p, e, None, c) for i, (s, p, e, c) in enumerate(reps))
        return Segmentation(test, None, segs, np.zeros(t.size, np.int8), (), auto)
    if not (stance != 0).any():
        which = f" on the {side.value} leg" if side else ""
        raise InsufficientData(
            f"No single-leg support{which} was found; lift the other foot clearly off the floor "
            "(a hand's width) and keep the whole body in view.")
    if test is TestType.SINGLE_LEG_SQUAT:
        sl_reps = _single_leg_reps(depth, t, stance, series, cfg)
        if not sl_reps:
            raise InsufficientData(
                "No single-leg squat repetitions were found; bend the standing knee at least a quarter "
                "of the way down, 3–5 times, while the other foot stays off the floor.")
        segs = tuple(Segment(test, i, s, p, e, sd, c) for i, (s, p, e, c, sd) in enumerate(sl_reps))
    else:
        drop = support_series(series, stance, base)["pelvic_drop_deg"]
        segs = tuple(_stance_segments(test, stance, drop))
    sides = sorted({s.side for s in segs if s.side is not None}, key=lambda x: x.value)
    stance_side = sides[0] if len(sides) == 1 else None
    stats = tuple(_stance_stats(stance, t, sd) for sd in sides)
    return Segmentation(test, stance_side, segs, stance, stats, auto)


def _single_leg_reps(depth: np.ndarray, t: np.ndarray, stance: np.ndarray, series: dict[str, np.ndarray],
                     cfg: SegmentationConfig) -> list[tuple[int, int, int, bool, Side]]:
    out = []
    for code, sd in ((1, Side.LEFT), (-1, Side.RIGHT)):
        mask = stance == code
        if not mask.any():
            continue
        kf = series[f"knee_flexion_{sd.value}_deg"]
        for s, p, e, c in find_reps(depth, t, cfg, mask=mask):
            if np.isfinite(kf[p]) and kf[p] < cfg.squat_knee_flexion_deg:
                continue
            out.append((s, p, e, c, sd))
    out.sort(key=lambda r: r[1])
    return out


def _stance_segments(test: TestType, stance: np.ndarray, drop: np.ndarray | None) -> list[Segment]:
    segs = []
    for code, sd in ((1, Side.LEFT), (-1, Side.RIGHT)):
        for s, e in _runs(stance == code):
            if drop is not None and np.isfinite(drop[s:e]).any():
                deepest = s + int(np.nanargmax(drop[s:e]))
            else:
                deepest = (s + e - 1) // 2
            segs.append(Segment(test, 0, s, deepest, e - 1, sd, True))
    segs.sort(key=lambda x: x.start)
    return [Segment(x.kind, i, x.start, x.deepest, x.end, x.side, x.complete) for i, x in enumerate(segs)]


def _stance_stats(stance: np.ndarray, t: np.ndarray, side: Side) -> StanceStats:
    code = 1 if side is Side.LEFT else -1
    runs = _runs(stance == code)
    durations = [_duration(t, s, e) for s, e in runs]
    longest = int(np.argmax(durations))
    ended = runs[longest][1] < stance.size  # the foot came down before the clip ended
    return StanceStats(side, float(durations[longest]), float(sum(durations)), max(len(runs) - 1, 0), bool(ended))
