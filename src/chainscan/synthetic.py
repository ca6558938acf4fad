"""Deterministic synthetic landmark sequences with known answers, for tests, demos and benchmarks.

A stick-figure body is posed in 3D (metres; body frame: X = subject's left, Y up, Z toward the camera)
and projected orthographically by a camera facing it (optionally yawed, or seen from behind). The
known answers are exact: the knee FPPA is built in (``valgus_deg`` is the image FPPA at the deepest
frame), the pelvis is rotated by a set contralateral drop, the trunk by a set lean. ``truth`` also holds
every metric computed from the noise-free points, and the rep boundaries.

>>> clip = make_squat(n_reps=3, valgus_deg=12, seed=0)      # doctest: +SKIP
>>> clip.pose, clip.truth.reps
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .landmarks import N_LANDMARKS, Side
from .landmarks import Landmark as L
from .types import PoseSequence, TestType, VideoMeta

# body dimensions, metres
HIP_W, SHOULDER_W, THIGH, SHANK, TRUNK, ANKLE_H = 0.18, 0.38, 0.45, 0.43, 0.50, 0.08
ANKLE_X = 0.11  # ankles a little wider than the hip joint centres
WIDTH, HEIGHT, SCALE, FLOOR_Y = 720, 1280, 520.0, 1180.0


@dataclass(frozen=True)
class SyntheticTruth:
    """Known answers. Frames are row indices. Angles follow chainscan's sign conventions."""

    test: TestType
    stance_side: Side | None
    reps: tuple[tuple[int, int, int], ...]           # (start, deepest, end)
    valgus_deg: dict[str, float]                     # intended image FPPA at the deepest frame, per side
    pelvic_drop_deg: float                           # intended contralateral drop beyond neutral
    trunk_lean_deg: float                            # intended lean toward the stance side
    hold_s: float = 0.0
    touchdowns: int = 0
    neutral: tuple[int, int] = (0, 0)
    series: dict[str, np.ndarray] = field(default_factory=dict)  # metrics from the noise-free points


@dataclass(frozen=True)
class SyntheticClip:
    pose: PoseSequence
    truth: SyntheticTruth
    clean_xy: np.ndarray     # (T, 33, 2) noise-free image points


def _ease(u: np.ndarray) -> np.ndarray:
    return (1 - np.cos(np.pi * np.clip(u, 0, 1))) / 2


def _leg_up(ankle: np.ndarray, flex_deg: float, fppa_deg: float, side: Side) -> tuple[np.ndarray, np.ndarray]:
    """Build a leg from the ankle up. Returns (knee, hip) in the body frame (X left, Y up, Z forward).

    The shank leans forward 40 % and the thigh back 60 % of the knee flexion (a squat with the foot flat);
    in the frontal projection the shank tilts medially by half the FPPA and the thigh laterally by half,
    so the projected FPPA is exactly ``fppa_deg`` (+ = valgus).
    """
    th = np.radians(flex_deg)
    ts, tt = 0.4 * th, 0.6 * th
    half = np.radians(fppa_deg) / 2
    medial = -1.0 if side is Side.LEFT else 1.0      # toward the midline in body X (left is +X)
    ls, lt = SHANK * np.cos(ts), THIGH * np.cos(tt)  # projected (frontal) lengths
    knee = ankle + np.array([medial * ls * np.sin(half), ls * np.cos(half), SHANK * np.sin(ts)])
    hip = knee + np.array([-medial * lt * np.sin(half), lt * np.cos(half), -THIGH * np.sin(tt)])
    return knee, hip


def _body(stance: Side | None, flex: dict[Side, float], fppa: dict[Side, float], drop_deg: float,
          lean_deg: float, lift_m: float, shift: float = 0.0) -> np.ndarray:
    """(33, 3) body-frame points for one frame."""
    p = np.zeros((N_LANDMARKS, 3))
    sides = (Side.LEFT, Side.RIGHT)
    sx = {Side.LEFT: 1.0, Side.RIGHT: -1.0}
    ankles = {s: np.array([sx[s] * ANKLE_X + shift, ANKLE_H, 0.0]) for s in sides}
    knees: dict[Side, np.ndarray] = {}
    hips: dict[Side, np.ndarray] = {}
    if stance is None:
        for s in sides:
            knees[s], hips[s] = _leg_up(ankles[s], flex[s], fppa[s], s)
    else:
        st, sw = stance, stance.other
        ankles[st] = np.array([sx[st] * 0.06 + shift, ANKLE_H, 0.0])  # weight shifted over the stance foot
        knees[st], hips[st] = _leg_up(ankles[st], flex[st], fppa[st], st)
        # pelvis: the swing-side hip is HIP_W away and lower by the contralateral drop
        d = np.radians(drop_deg)
        hips[sw] = hips[st] + np.array([sx[sw] * HIP_W * np.cos(d), -HIP_W * np.sin(d), 0.0])
        # swing leg: thigh forward 30°, shank hanging back so the ankle is lift_m above its floor height
        hip_sw = hips[sw]
        ankle_y = ANKLE_H + lift_m
        knee_y = (hip_sw[1] + ankle_y) / 2 + 0.05
        knees[sw] = np.array([hip_sw[0], knee_y, 0.18])
        ankles[sw] = np.array([hip_sw[0] + sx[sw] * 0.02, ankle_y, -0.05])
    mid_hip = (hips[Side.LEFT] + hips[Side.RIGHT]) / 2
    lean = np.radians(lean_deg)
    up = np.array([np.sin(lean), np.cos(lean), 0.0])
    across = np.array([np.cos(lean), -np.sin(lean), 0.0])     # toward the subject's left
    mid_sh = mid_hip + TRUNK * up
    for s in sides:
        p[L[f"{s.name}_HIP"]] = hips[s]
        p[L[f"{s.name}_KNEE"]] = knees[s]
        p[L[f"{s.name}_ANKLE"]] = ankles[s]
        p[L[f"{s.name}_HEEL"]] = ankles[s] + np.array([0.0, -0.05, -0.06])
        p[L[f"{s.name}_FOOT_INDEX"]] = ankles[s] + np.array([sx[s] * 0.02, -0.07, 0.16])
        sh = mid_sh + sx[s] * SHOULDER_W / 2 * across
        p[L[f"{s.name}_SHOULDER"]] = sh
        elbow = sh + np.array([sx[s] * 0.05, -0.28, 0.0])
        wrist = elbow + np.array([sx[s] * 0.02, -0.25, 0.05])
        p[L[f"{s.name}_ELBOW"]] = elbow
        p[L[f"{s.name}_WRIST"]] = wrist
        for k, off in (("PINKY", (0.02, -0.08, 0.0)), ("INDEX", (0.0, -0.09, 0.02)), ("THUMB", (-0.02, -0.05, 0.03))):
            p[L[f"{s.name}_{k}"]] = wrist + np.array([sx[s] * off[0], off[1], off[2]])
    head = mid_sh + 0.25 * up
    p[L.NOSE] = head + np.array([0, 0, 0.10])
    for s in sides:
        e = head + sx[s] * 0.035 * across + np.array([0, 0.03, 0.08])
        p[L[f"{s.name}_EYE"]] = e
        p[L[f"{s.name}_EYE_INNER"]] = e - sx[s] * 0.012 * across
        p[L[f"{s.name}_EYE_OUTER"]] = e + sx[s] * 0.012 * across
        p[L[f"{s.name}_EAR"]] = head + sx[s] * 0.075 * across
        p[L[f"MOUTH_{s.name}"]] = head + sx[s] * 0.025 * across + np.array([0, -0.05, 0.08])
    return p


def _project(body: np.ndarray, yaw_deg: float, back: bool) -> tuple[np.ndarray, np.ndarray]:
    """Body frame (T, 33, 3) → image (T, 33, 3: x px, y px, z px) and MediaPipe-like world (T, 33, 3)."""
    yaw = np.radians(yaw_deg)
    X, Y, Z = body[..., 0], body[..., 1], body[..., 2]
    xc = X * np.cos(yaw) + Z * np.sin(yaw)
    zc = -X * np.sin(yaw) + Z * np.cos(yaw)
    if back:
        xc, zc = -xc, -zc
    img = np.stack([WIDTH / 2 + xc * SCALE, FLOOR_Y - Y * SCALE, -zc * SCALE], axis=-1)
    world = np.stack([xc, -Y, -zc], axis=-1)
    mid = (world[:, L.LEFT_HIP] + world[:, L.RIGHT_HIP]) / 2
    return img, world - mid[:, None, :]


def _finish(bodies: list[np.ndarray], fps: float, seed: int, noise_px: float, yaw_deg: float, back: bool,
            swap_legs: tuple[int, int] | None, dropout: tuple[int, int] | None, name: str
            ) -> tuple[PoseSequence, np.ndarray]:
    body = np.stack(bodies)
    img, world = _project(body, yaw_deg, back)
    clean_xy = img[..., :2].copy()
    rng = np.random.default_rng(seed)
    img = img + rng.normal(0, noise_px, img.shape) if noise_px else img
    vis = np.full(img.shape[:2], 0.98)
    if swap_legs is not None:
        a, b = swap_legs
        for l_, r_ in ((L.LEFT_KNEE, L.RIGHT_KNEE), (L.LEFT_ANKLE, L.RIGHT_ANKLE), (L.LEFT_HEEL, L.RIGHT_HEEL),
                       (L.LEFT_FOOT_INDEX, L.RIGHT_FOOT_INDEX)):
            for arr in (img, world):
                tmp = arr[a:b, l_].copy()
                arr[a:b, l_] = arr[a:b, r_]
                arr[a:b, r_] = tmp
    if dropout is not None:
        a, b = dropout
        img[a:b] = np.nan
        world[a:b] = np.nan
        vis[a:b] = np.nan
    n = body.shape[0]
    pose = PoseSequence(
        coords=img.astype(np.float32), visibility=vis.astype(np.float32), world=world.astype(np.float32),
        timestamps=np.arange(n, dtype=np.float64) / fps, frame_indices=np.arange(n, dtype=np.int64),
        meta=VideoMeta(source=f"synthetic:{name}", width=WIDTH, height=HEIGHT, fps=fps, n_frames_declared=n,
                       duration_s=n / fps),
        model="synthetic")
    return pose, clean_xy


def _truth_series(clean_xy: np.ndarray, world: np.ndarray | None = None) -> dict[str, np.ndarray]:
    from .metrics import frame_metrics

    w = world if world is not None else np.zeros(clean_xy.shape[:2] + (3,))
    return frame_metrics(clean_xy.astype(float), w)


def _timeline(fps: float, stand_s: float, n_reps: int, down_s: float, up_s: float, pause_s: float,
              end_s: float) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Depth phase in [0, 1] per frame and the rep (start, deepest, end) frames."""
    phases: list[float] = []
    reps = []
    phases += [0.0] * int(round(stand_s * fps))
    for _ in range(n_reps):
        start = len(phases)
        nd, nu = int(round(down_s * fps)), int(round(up_s * fps))
        phases += list(_ease(np.arange(1, nd + 1) / nd))
        deepest = len(phases) - 1
        phases += list(_ease(1 - np.arange(1, nu + 1) / nu))
        reps.append((start, deepest, len(phases) - 1))
        phases += [0.0] * int(round(pause_s * fps))
    phases += [0.0] * int(round(end_s * fps))
    return np.asarray(phases), reps


def _per_side(v: float | tuple[float, float]) -> dict[Side, float]:
    if isinstance(v, tuple):
        return {Side.LEFT: float(v[0]), Side.RIGHT: float(v[1])}
    return {Side.LEFT: float(v), Side.RIGHT: float(v)}


def make_squat(n_reps: int = 3, valgus_deg: float | tuple[float, float] = 0.0, depth_deg: float = 90.0,
               fps: float = 30.0, noise_px: float = 0.4, seed: int = 0, yaw_deg: float = 0.0, back: bool = False,
               swap_legs: tuple[int, int] | None = None, dropout: tuple[int, int] | None = None,
               stand_s: float = 1.5) -> SyntheticClip:
    """Double-leg squats: knee flexion to ``depth_deg`` with image FPPA ``valgus_deg`` (per side if a tuple)
    at the deepest frame, scaled with depth."""
    phase, reps = _timeline(fps, stand_s, n_reps, 1.0, 1.0, 0.5, 1.0)
    vg = _per_side(valgus_deg)
    bodies = [_body(None, {s: depth_deg * u for s in Side}, {s: vg[s] * u for s in Side}, 0.0, 0.0, 0.0)
              for u in phase]
    pose, clean = _finish(bodies, fps, seed, noise_px, yaw_deg, back, swap_legs, dropout, "double_leg_squat")
    truth = SyntheticTruth(TestType.DOUBLE_LEG_SQUAT, None, tuple(reps), {s.value: vg[s] for s in Side}, 0.0, 0.0,
                           neutral=(0, int(stand_s * fps)), series=_truth_series(clean, _world_of(bodies)))
    return SyntheticClip(pose, truth, clean)


def _world_of(bodies: list[np.ndarray]) -> np.ndarray:
    return _project(np.stack(bodies), 0.0, False)[1]


def make_single_leg_squat(side: Side = Side.LEFT, n_reps: int = 3, valgus_deg: float = 15.0,
                          depth_deg: float = 60.0, pelvic_drop_deg: float = 0.0, trunk_lean_deg: float = 0.0,
                          fps: float = 30.0, noise_px: float = 0.4, seed: int = 0, lift_m: float = 0.18,
                          yaw_deg: float = 0.0, swap_legs: tuple[int, int] | None = None,
                          stand_s: float = 1.5) -> SyntheticClip:
    """Single-leg squats on ``side``: stand, lift the other foot, ``n_reps`` squats reaching FPPA
    ``valgus_deg`` and contralateral drop ``pelvic_drop_deg`` at the deepest frame, foot down, stand."""
    lift_s, hold0 = 0.5, 0.7
    phase, reps = _timeline(fps, stand_s + lift_s + hold0, n_reps, 1.0, 1.0, 0.6, 0.0)
    n_lift = int(round(lift_s * fps))
    start_lift = int(round(stand_s * fps))
    tail = int(round(lift_s * fps)) + int(round(1.0 * fps))
    phase = np.concatenate([phase, np.zeros(tail)])
    n = phase.size
    lift = np.zeros(n)
    lift[start_lift:start_lift + n_lift] = _ease(np.arange(1, n_lift + 1) / n_lift)
    end_single = n - int(round(1.0 * fps)) - n_lift
    lift[start_lift + n_lift:end_single] = 1.0
    lift[end_single:end_single + n_lift] = _ease(1 - np.arange(1, n_lift + 1) / n_lift)
    bodies = []
    for u, lf in zip(phase, lift):
        st = side if lf > 0 else None
        flex = {side: depth_deg * u, side.other: 0.0}
        fp = {side: valgus_deg * u, side.other: 0.0}
        if st is None:
            bodies.append(_body(None, flex, fp, 0.0, 0.0, 0.0))
        else:
            bodies.append(_body(side, flex, fp, pelvic_drop_deg * u, _lean(side, trunk_lean_deg * u), lift_m * lf))
    pose, clean = _finish(bodies, fps, seed, noise_px, yaw_deg, False, swap_legs, None, "single_leg_squat")
    truth = SyntheticTruth(TestType.SINGLE_LEG_SQUAT, side, tuple(reps), {side.value: valgus_deg},
                           pelvic_drop_deg, trunk_lean_deg, neutral=(0, start_lift),
                           series=_truth_series(clean, _world_of(bodies)))
    return SyntheticClip(pose, truth, clean)


def _lean(stance: Side, ipsi_deg: float) -> float:
    """Lean toward the stance side expressed in chainscan's + = toward the subject's left convention."""
    return ipsi_deg if stance is Side.LEFT else -ipsi_deg


def make_single_leg_stance(side: Side = Side.RIGHT, hold_s: float = 6.0, pelvic_drop_deg: float = 6.0,
                           trunk_lean_deg: float = 4.0, touchdowns: int = 0, fps: float = 30.0,
                           noise_px: float = 0.4, seed: int = 0, lift_m: float = 0.18, sway_deg: float = 0.5,
                           yaw_deg: float = 0.0, back: bool = False, swap_legs: tuple[int, int] | None = None,
                           stand_s: float = 1.5) -> SyntheticClip:
    """Stand, lift the other foot and stand on ``side`` for ``hold_s`` seconds (split by ``touchdowns``
    brief touch-downs of 0.6 s), with a set contralateral pelvic drop and ipsilateral trunk lean."""
    n_stand, n_ramp = int(round(stand_s * fps)), int(round(0.4 * fps))
    rng = np.random.default_rng(seed + 1)
    holds = [hold_s / (touchdowns + 1)] * (touchdowns + 1)
    lift: list[float] = [0.0] * n_stand
    for k, h in enumerate(holds):
        lift += list(_ease(np.arange(1, n_ramp + 1) / n_ramp))
        lift += [1.0] * int(round(h * fps))
        lift += list(_ease(1 - np.arange(1, n_ramp + 1) / n_ramp))
        lift += [0.0] * int(round((0.6 if k < touchdowns else 1.0) * fps))
    lf = np.asarray(lift)
    sway = sway_deg * np.sin(np.arange(lf.size) / fps * 2 * np.pi * 0.4 + rng.uniform(0, 6))
    bodies = []
    for k, v in enumerate(lf):
        if v <= 0:
            bodies.append(_body(None, {s: 0.0 for s in Side}, {s: 0.0 for s in Side}, 0.0, 0.0, 0.0))
        else:
            bodies.append(_body(side, {s: 0.0 for s in Side}, {s: 0.0 for s in Side}, pelvic_drop_deg * v + sway[k] * v,
                                _lean(side, trunk_lean_deg * v), lift_m * v))
    pose, clean = _finish(bodies, fps, seed, noise_px, yaw_deg, back, swap_legs, None, "single_leg_stance")
    truth = SyntheticTruth(TestType.SINGLE_LEG_STANCE, side, (), {}, pelvic_drop_deg, trunk_lean_deg,
                           hold_s=max(holds), touchdowns=touchdowns, neutral=(0, n_stand),
                           series=_truth_series(clean, _world_of(bodies)))
    return SyntheticClip(pose, truth, clean)


def make_standing(duration_s: float = 4.0, fps: float = 30.0, noise_px: float = 0.4, seed: int = 0,
                  obliquity_deg: float = 0.0) -> SyntheticClip:
    """Quiet standing (a neutral baseline clip). ``obliquity_deg`` tilts the camera (image roll)."""
    n = int(round(duration_s * fps))
    bodies = [_body(None, {s: 0.0 for s in Side}, {s: 0.0 for s in Side}, 0.0, 0.0, 0.0) for _ in range(n)]
    pose, clean = _finish(bodies, fps, seed, noise_px, 0.0, False, None, None, "standing")
    truth = SyntheticTruth(TestType.DOUBLE_LEG_SQUAT, None, (), {}, 0.0, 0.0, neutral=(0, n),
                           series=_truth_series(clean, _world_of(bodies)))
    return SyntheticClip(pose, truth, clean)
