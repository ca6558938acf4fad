"""Signal cleaning of landmark trajectories.

Order: low-visibility and out-of-image points → NaN; left/right label swaps fixed; thighs and shanks
longer than a body segment can look → NaN; isolated implausible jumps (spikes) → NaN; short interior
gaps (≤ ``max_gap_s``) interpolated; zero-lag low-pass (2nd-order Butterworth run forward and backward =
4th-order zero lag, cut-off corrected for the double pass, Winter 2009). Coordinates keep their units
(pixels / metres): nothing here rescales.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SignalConfig
from .landmarks import Landmark
from .types import PoseSequence

L = Landmark

#: groups whose left/right labels are checked for swaps: (left landmarks, right landmarks, anchor pair)
SWAP_GROUPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "torso": ((L.LEFT_SHOULDER, L.LEFT_HIP), (L.RIGHT_SHOULDER, L.RIGHT_HIP)),
    "legs": ((L.LEFT_KNEE, L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX),
             (L.RIGHT_KNEE, L.RIGHT_ANKLE, L.RIGHT_HEEL, L.RIGHT_FOOT_INDEX)),
    "arms": ((L.LEFT_ELBOW, L.LEFT_WRIST, L.LEFT_PINKY, L.LEFT_INDEX, L.LEFT_THUMB),
             (L.RIGHT_ELBOW, L.RIGHT_WRIST, L.RIGHT_PINKY, L.RIGHT_INDEX, L.RIGHT_THUMB)),
}
#: the limb groups are anchored to the side of this torso pair
_GROUP_ANCHOR = {"legs": (L.LEFT_HIP, L.RIGHT_HIP), "arms": (L.LEFT_SHOULDER, L.RIGHT_SHOULDER)}


@dataclass(frozen=True)
class CleanedPose:
    """Cleaned, filtered trajectories.

    ``xy``: (T, 33, 2) pixels; ``world``: (T, 33, 3) metres; ``measured``: (T, 33) True where the
    point survived cleaning (False where it was NaN'd or interpolated); ``swapped``: per group, (T,)
    True where labels were swapped back; ``leg_length_px``: median hip–ankle distance.
    """

    xy: np.ndarray
    world: np.ndarray
    measured: np.ndarray
    swapped: dict[str, np.ndarray]
    n_spikes: int
    leg_length_px: float
    cutoff_hz: float
    n_implausible: int = 0


def leg_length_px(xy: np.ndarray) -> float:
    """Median hip–ankle distance over frames and sides, pixels (NaN if never seen)."""
    d = np.concatenate([
        np.linalg.norm(xy[:, L.LEFT_HIP] - xy[:, L.LEFT_ANKLE], axis=-1),
        np.linalg.norm(xy[:, L.RIGHT_HIP] - xy[:, L.RIGHT_ANKLE], axis=-1)])
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else float("nan")


def clean_pose(pose: PoseSequence, cfg: SignalConfig) -> CleanedPose:
    xy = pose.coords[:, :, :2].astype(np.float64)
    world = pose.world.astype(np.float64)
    vis = pose.visibility
    w, h = pose.meta.width, pose.meta.height
    bad = ~(vis >= cfg.min_visibility)
    bad |= (xy[..., 0] < -0.05 * w) | (xy[..., 0] > 1.05 * w) | (xy[..., 1] < -0.05 * h) | (xy[..., 1] > 1.05 * h)
    xy[bad] = np.nan
    world[bad] = np.nan

    swapped: dict[str, np.ndarray] = {}
    if cfg.fix_swaps:
        for name, (left, right) in SWAP_GROUPS.items():
            s = _swap_states(xy, left, right, _GROUP_ANCHOR.get(name))
            swapped[name] = s
            if s.any():
                li, ri = list(left), list(right)
                for arr in (xy, world):
                    tmp = arr[s][:, li].copy()
                    sub = arr[s]
                    sub[:, li] = sub[:, ri]
                    sub[:, ri] = tmp
                    arr[s] = sub
    n_implausible = _implausible_segments(xy, world)
    scale = leg_length_px(xy)
    n_spikes = 0
    if np.isfinite(scale) and scale > 0:
        spikes = _spikes(xy, cfg.spike_tolerance * scale)
        n_spikes = int(spikes.sum())
        xy[spikes] = np.nan
        world[spikes] = np.nan
    measured = np.isfinite(xy).all(axis=-1)
    t = pose.timestamps
    xy = fill_gaps(xy, t, cfg.max_gap_s)
    world = fill_gaps(world, t, cfg.max_gap_s)
    fs = pose.fps
    cutoff = min(cfg.cutoff_hz, 0.8 * fs / 2)
    xy = lowpass(xy, t, cutoff)
    world = lowpass(world, t, cutoff)
    return CleanedPose(xy=xy, world=world, measured=measured, swapped=swapped, n_spikes=n_spikes,
                       leg_length_px=scale, cutoff_hz=float(cutoff), n_implausible=n_implausible)


def _swap_states(xy: np.ndarray, left: tuple[int, ...], right: tuple[int, ...],
                 anchor: tuple[int, int] | None) -> np.ndarray:
    """(T,) bool: frames whose left/right labels of this group should be swapped back.

    Two-state dynamic programme over time: the cost of a labelling is the frame-to-frame travel of
    the points (continuity), plus, for limbs, a penalty when the left limb sits on the right side of
    the body by a clear margin (anatomy). The torso group is anchored by majority: MediaPipe is
    right most of the time.
    """
    li, ri = list(left), list(right)
    lp, rp = xy[:, li], xy[:, ri]
    ok = np.isfinite(lp).all(axis=(1, 2)) & np.isfinite(rp).all(axis=(1, 2))
    frames = np.flatnonzero(ok)
    states = np.zeros(xy.shape[0], bool)
    if frames.size < 2:
        return states
    scale = np.nanmedian(np.linalg.norm(lp[frames] - rp[frames], axis=-1)) + 1e-6
    anat = np.zeros((frames.size, 2))
    if anchor is not None:
        a_l, a_r = xy[frames, anchor[0]], xy[frames, anchor[1]]
        side_dir = np.sign(a_l[:, 0] - a_r[:, 0])  # image-x direction of the subject's left
        limb_dx = (lp[frames, :, 0].mean(axis=1) - rp[frames, :, 0].mean(axis=1)) * side_dir
        hip_w = np.abs(a_l[:, 0] - a_r[:, 0])
        clear = np.isfinite(limb_dx) & (np.abs(limb_dx) > 0.5 * np.nan_to_num(hip_w, nan=np.inf))
        wrong = clear & (limb_dx < 0)   # as labelled, the left limb is on the right
        right_ = clear & (limb_dx > 0)
        anat[:, 0] = np.where(wrong, 1.0, 0.0)
        anat[:, 1] = np.where(right_, 1.0, 0.0)
    prior = (0.0, 1e-3)
    n = frames.size
    pos = np.stack([np.concatenate([lp[frames], rp[frames]], axis=1),
                    np.concatenate([rp[frames], lp[frames]], axis=1)], axis=1)  # (n, 2 states, 2k, 2)
    # travel[i, prev, cur]: mean point travel from frame i to i+1, in units of the left–right spacing
    travel = (np.linalg.norm(pos[1:, None] - pos[:-1, :, None], axis=-1).mean(axis=-1) / scale).tolist()
    an = anat.tolist()
    c0, c1 = an[0][0] + prior[0], an[0][1] + prior[1]
    back = np.zeros((n, 2), np.int8)
    for i in range(1, n):
        t = travel[i - 1]
        a0, a1 = c0 + t[0][0], c1 + t[1][0]   # arrive in state 0 from 0 / from 1
        b0, b1 = c0 + t[0][1], c1 + t[1][1]   # arrive in state 1 from 0 / from 1
        back[i, 0] = 0 if a0 <= a1 else 1
        back[i, 1] = 0 if b0 <= b1 else 1
        c0 = min(a0, a1) + an[i][0] + prior[0]
        c1 = min(b0, b1) + an[i][1] + prior[1]
    s = np.zeros(n, np.int8)
    s[-1] = 0 if c0 <= c1 else 1
    for i in range(n - 1, 0, -1):
        s[i - 1] = back[i, s[i]]
    if anchor is None and s.mean() > 0.5:
        s = 1 - s
    states[frames] = s.astype(bool)
    # frames between valid frames inherit the state of the previous valid one
    if frames.size:
        idx = np.maximum.accumulate(np.where(ok, np.arange(ok.size), -1))
        states = np.where(idx >= 0, states[np.clip(idx, 0, None)], False)
    return states


#: (proximal, distal points) of the leg segments checked for plausible length
_SEGMENTS = (
    (L.LEFT_HIP, (L.LEFT_KNEE,)), (L.RIGHT_HIP, (L.RIGHT_KNEE,)),
    (L.LEFT_KNEE, (L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX)),
    (L.RIGHT_KNEE, (L.RIGHT_ANKLE, L.RIGHT_HEEL, L.RIGHT_FOOT_INDEX)),
)
#: a projected segment cannot be longer than the body segment: allow this much over its usual length
MAX_SEGMENT_STRETCH = 1.5


def _implausible_segments(xy: np.ndarray, world: np.ndarray) -> int:
    """NaN (in place) the distal points of thighs and shanks stretched beyond MAX_SEGMENT_STRETCH × their
    90th-percentile length: a 2D projection can shorten a segment but never lengthen it. Returns the count."""
    n = 0
    for prox, distal in _SEGMENTS:
        length = np.linalg.norm(xy[:, prox] - xy[:, distal[0]], axis=-1)
        if np.isfinite(length).sum() < 10:
            continue
        bad = np.isfinite(length) & (length > MAX_SEGMENT_STRETCH * np.nanpercentile(length, 90))
        if bad.any():
            n += int(bad.sum())
            for d in distal:
                xy[bad, d] = np.nan
                world[bad, d] = np.nan
    return n


def _spikes(xy: np.ndarray, tol: float) -> np.ndarray:
    """(T, 33) bool: points farther than ``tol`` from the median of their 5-frame neighbourhood."""
    t = xy.shape[0]
    if t < 5:
        return np.zeros(xy.shape[:2], bool)
    pad = np.pad(xy, ((2, 2), (0, 0), (0, 0)), mode="edge")
    win = np.stack([pad[i:i + t] for i in range(5)], axis=0)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(win, axis=0)
    dev = np.linalg.norm(xy - med, axis=-1)
    return np.isfinite(dev) & (dev > tol)


def _runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True."""
    d = np.diff(np.concatenate([[0], finite.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def fill_gaps(a: np.ndarray, t: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Linearly interpolate interior NaN gaps lasting ≤ ``max_gap_s`` seconds along axis 0.

    A gap's length is the time between the last sample before it and the first after it, minus one
    frame interval. Leading/trailing NaN and longer gaps stay NaN.
    """
    out = a.copy()
    flat = out.reshape(a.shape[0], -1)
    dt = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    for j in range(flat.shape[1]):
        col = flat[:, j]
        fin = np.isfinite(col)
        if fin.all() or fin.sum() < 2:
            continue
        for s, e in _runs(~fin):
            if s == 0 or e == col.size:
                continue
            if t[e] - t[s - 1] - dt <= max_gap_s + 1e-9:
                col[s:e] = np.interp(t[s:e], [t[s - 1], t[e]], [col[s - 1], col[e]])
    return out


def lowpass(a: np.ndarray, t: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """Zero-lag low-pass along axis 0 of each finite run (variable frame rate handled by resampling).

    2nd-order Butterworth, forward and backward (4th-order zero lag); the cut-off is divided by
    0.802 so that the double pass has its −3 dB point at ``cutoff_hz``. Runs too short to filter
    are left as they are.
    """
    if a.shape[0] < 4:
        return a.copy()
    dts = np.diff(t)
    dt = float(np.median(dts))
    fs = 1.0 / dt
    wn = min(cutoff_hz / 0.802 / (fs / 2), 0.95)
    b, a_ = butter2_lowpass(wn)
    uniform = bool(np.all(np.abs(dts - dt) <= 0.1 * dt))
    out = a.copy()
    flat = out.reshape(a.shape[0], -1)
    fin_all = np.isfinite(flat)
    # fast path: columns sharing the same finite pattern are filtered together
    patterns: dict[bytes, list[int]] = {}
    for j in range(flat.shape[1]):
        patterns.setdefault(fin_all[:, j].tobytes(), []).append(j)
    for cols in patterns.values():
        fin = fin_all[:, cols[0]]
        for s, e in _runs(fin):
            n = e - s
            if n < 8:
                continue
            block = flat[s:e, cols]
            if uniform:
                flat[s:e, cols] = filtfilt2(b, a_, block, padlen=min(n - 1, 9))
            else:
                tt = t[s:e]
                grid = np.arange(tt[0], tt[-1] + dt / 2, dt)
                if grid.size < 8:
                    continue
                res = np.stack([np.interp(grid, tt, block[:, k]) for k in range(block.shape[1])], axis=1)
                res = filtfilt2(b, a_, res, padlen=min(grid.size - 1, 9))
                flat[s:e, cols] = np.stack([np.interp(tt, grid, res[:, k]) for k in range(res.shape[1])], axis=1)
    return out


# --------------------------------------------------------------------------------------------------
# Small numpy versions of the scipy.signal routines used here. Importing scipy.signal costs ≈ 0.6 s
# (it pulls in scipy.stats), more than a whole `chainscan reanalyse`; these give the same numbers
# (checked against scipy in tests/test_engine_imports.py).


def butter2_lowpass(wn: float) -> tuple[np.ndarray, np.ndarray]:
    """2nd-order Butterworth low-pass, ``wn`` = cut-off ÷ Nyquist (0–1): (b, a) like ``scipy.signal.butter``."""
    k = float(np.tan(np.pi * wn / 2))
    d = 1.0 + np.sqrt(2.0) * k + k * k
    b = np.array([k * k, 2 * k * k, k * k]) / d
    a = np.array([1.0, 2 * (k * k - 1) / d, (1 - np.sqrt(2.0) * k + k * k) / d])
    return b, a


def _biquad(b: np.ndarray, a: np.ndarray, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """One biquad section (direct form II transposed) along axis 0; ``z``: (2, ...) initial state."""
    b0, b1, b2 = (float(v) for v in b)
    a1, a2 = float(a[1]), float(a[2])
    y = np.empty_like(x)
    z1, z2 = z[0].copy(), z[1].copy()
    for n in range(x.shape[0]):
        xn = x[n]
        yn = b0 * xn + z1
        z1 = b1 * xn - a1 * yn + z2
        z2 = b2 * xn - a2 * yn
        y[n] = yn
    return y


def filtfilt2(b: np.ndarray, a: np.ndarray, x: np.ndarray, padlen: int) -> np.ndarray:
    """Forward-backward biquad along axis 0 with odd padding and steady-state initial conditions:
    ``scipy.signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)`` for a one-section ``sos``."""
    x = np.asarray(x, dtype=np.float64)
    if padlen > 0:
        left = 2 * x[0] - x[padlen:0:-1]
        right = 2 * x[-1] - x[-2:-(padlen + 2):-1]
        ext = np.concatenate([left, x, right], axis=0)
    else:
        ext = x
    # steady state for a step input (scipy.signal.lfilter_zi)
    zi = np.linalg.solve(np.array([[1 + a[1], -1.0], [a[2], 1.0]]), b[1:] - a[1:] * b[0])
    shape = (2,) + (1,) * (x.ndim - 1)
    y = _biquad(b, a, ext, zi.reshape(shape) * ext[0])
    y = _biquad(b, a, y[::-1], zi.reshape(shape) * y[-1])[::-1]
    return np.ascontiguousarray(y[padlen:y.shape[0] - padlen] if padlen > 0 else y)


def find_peaks(x: np.ndarray, *, prominence: float, distance: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Local maxima of ``x`` at least ``distance`` samples apart (higher peaks win) with at least
    ``prominence``: ``scipy.signal.find_peaks(x, prominence=..., distance=...)`` (same plateau, distance and
    prominence rules). Returns the peak indices and their prominences, left_bases and right_bases."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    peaks = []
    i = 1
    while i < n - 1:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < n - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    pk = np.asarray(peaks, dtype=np.intp)
    if distance > 1 and pk.size > 1:
        keep = np.ones(pk.size, dtype=bool)
        order = np.argsort(x[pk])
        for j in order[::-1]:
            if not keep[j]:
                continue
            k = j - 1
            while k >= 0 and pk[j] - pk[k] < distance:
                keep[k] = False
                k -= 1
            k = j + 1
            while k < pk.size and pk[k] - pk[j] < distance:
                keep[k] = False
                k += 1
        pk = pk[keep]
    proms = np.empty(pk.size)
    lb = np.empty(pk.size, dtype=np.intp)
    rb = np.empty(pk.size, dtype=np.intp)
    for m, p in enumerate(pk):
        top = x[p]
        i, lb[m], lo_l = p, p, top
        while i >= 0 and x[i] <= top:
            if x[i] < lo_l:
                lo_l, lb[m] = x[i], i
            i -= 1
        i, rb[m], lo_r = p, p, top
        while i <= n - 1 and x[i] <= top:
            if x[i] < lo_r:
                lo_r, rb[m] = x[i], i
            i += 1
        proms[m] = top - max(lo_l, lo_r)
    sel = proms >= prominence
    return pk[sel], {"prominences": proms[sel], "left_bases": lb[sel], "right_bases": rb[sel]}


def peak_widths(x: np.ndarray, peaks: np.ndarray, rel_height: float,
                prominence_data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Width of each peak at ``rel_height`` of its prominence: (widths, heights, left_ips, right_ips),
    as ``scipy.signal.peak_widths`` (linear interpolation between samples)."""
    x = np.asarray(x, dtype=np.float64)
    proms, lbs, rbs = prominence_data
    out = np.empty((4, len(peaks)))
    for m, p in enumerate(peaks):
        h = x[p] - proms[m] * rel_height
        i = p
        while lbs[m] < i and h < x[i]:
            i -= 1
        left = float(i)
        if x[i] < h:
            left += (h - x[i]) / (x[i + 1] - x[i])
        i = p
        while i < rbs[m] and h < x[i]:
            i += 1
        right = float(i)
        if x[i] < h:
            right -= (h - x[i]) / (x[i - 1] - x[i])
        out[:, m] = (right - left, h, left, right)
    return out[0], out[1], out[2], out[3]
