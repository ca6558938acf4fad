"""The central data types. Frozen dataclasses, validated where they are built.

Conventions (everywhere in chainscan):
- Image coordinates are pixels of the upright (rotation-corrected) frame, x to the right, y DOWN.
- World coordinates are MediaPipe's metric, hip-centred landmarks in metres (x right, y down,
  z toward the camera negative).
- "left"/"right" are the subject's own sides.
- Missing data is NaN (a frame where nobody was found has an all-NaN row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from .landmarks import N_LANDMARKS, Side


class TestType(str, Enum):
    """The movement tests chainscan screens."""

    __test__ = False  # not a pytest test class

    DOUBLE_LEG_SQUAT = "double_leg_squat"
    SINGLE_LEG_SQUAT = "single_leg_squat"
    SINGLE_LEG_STANCE = "single_leg_stance"

    @property
    def label(self) -> str:
        """Human label, e.g. "single-leg squat"."""
        return {"double_leg_squat": "double-leg squat", "single_leg_squat": "single-leg squat",
                "single_leg_stance": "single-leg stance"}[self.value]


@dataclass(frozen=True)
class VideoMeta:
    """What we know about the source video.

    ``width``/``height`` are of the upright frame (after the container's rotation is applied);
    ``rotation_deg`` is the rotation that was applied (0, 90, 180, 270); ``fps`` is the nominal
    container rate (timestamps are authoritative); ``n_frames_declared`` may be 0 when unknown.
    """

    source: str
    width: int
    height: int
    fps: float
    n_frames_declared: int = 0
    rotation_deg: int = 0
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"VideoMeta: width and height must be > 0, got {self.width}x{self.height}")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"VideoMeta.fps must be a positive number, got {self.fps!r}")
        if self.rotation_deg not in (0, 90, 180, 270):
            raise ValueError(f"VideoMeta.rotation_deg must be 0/90/180/270, got {self.rotation_deg!r}")


@dataclass(frozen=True, eq=False)
class PoseSequence:
    """Pose landmarks of one person over a clip: the cached, model-free input of every analysis.

    Attributes:
        coords: (T, 33, 3) float32. x, y in pixels of the upright frame (y down); z is MediaPipe's
            relative depth scaled like x (pixels, smaller = closer to the camera). NaN = not found.
        visibility: (T, 33) float32 in [0, 1]; NaN where not found. Unreliable for occluded joints.
        world: (T, 33, 3) float32 metric landmarks, metres, origin between the hips, y down.
        timestamps: (T,) float64 seconds from the container, strictly increasing.
        frame_indices: (T,) int64 index of each row's frame in the source video.
        meta: the source video's metadata.
        model: which pose model produced the landmarks.
        extra: small JSON-able facts gathered during extraction (e.g. other people seen).
    """

    coords: np.ndarray
    visibility: np.ndarray
    world: np.ndarray
    timestamps: np.ndarray
    frame_indices: np.ndarray
    meta: VideoMeta
    model: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = _check_array("timestamps", self.timestamps, ndim=1, dtype=np.float64)
        n = t.shape[0]
        _check_array("coords", self.coords, shape=(n, N_LANDMARKS, 3), dtype=np.float32)
        _check_array("visibility", self.visibility, shape=(n, N_LANDMARKS), dtype=np.float32)
        _check_array("world", self.world, shape=(n, N_LANDMARKS, 3), dtype=np.float32)
        fi = _check_array("frame_indices", self.frame_indices, shape=(n,), dtype=np.int64)
        if n == 0:
            raise ValueError("PoseSequence: needs at least one frame, got 0")
        if not np.all(np.isfinite(t)):
            raise ValueError("PoseSequence.timestamps: expected finite seconds, found NaN/inf")
        if n > 1 and not np.all(np.diff(t) > 0):
            raise ValueError("PoseSequence.timestamps: expected strictly increasing seconds")
        if n > 1 and not np.all(np.diff(fi) > 0):
            raise ValueError("PoseSequence.frame_indices: expected strictly increasing indices")
        if not isinstance(self.meta, VideoMeta):
            raise ValueError(f"PoseSequence.meta: expected VideoMeta, got {type(self.meta).__name__}")
        for a in (self.coords, self.visibility, self.world, self.timestamps, self.frame_indices):
            a.setflags(write=False)

    @property
    def n_frames(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def fps(self) -> float:
        """Effective analysed frame rate: median of 1/dt (the nominal rate for one frame)."""
        if self.n_frames < 2:
            return float(self.meta.fps)
        return float(1.0 / np.median(np.diff(self.timestamps)))

    @property
    def detected(self) -> np.ndarray:
        """(T,) bool: a person was found in the frame."""
        return np.isfinite(self.coords[:, :, 0]).any(axis=1)

    def xy(self, index: int) -> np.ndarray:
        """(T, 2) pixel x, y of one landmark."""
        return self.coords[:, index, :2]


def _check_array(name: str, a: Any, *, ndim: int | None = None, shape: tuple | None = None,
                 dtype: Any = None) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"PoseSequence.{name}: expected a numpy array, got {type(a).__name__}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"PoseSequence.{name}: expected {ndim} dimensions, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"PoseSequence.{name}: expected shape {shape}, got {a.shape}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"PoseSequence.{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    return a


@dataclass(frozen=True)
class Segment:
    """One rep (squats) or one single-leg stance period.

    Frame numbers are row indices into the PoseSequence; times are seconds from the container.
    ``side`` is the stance leg for single-leg tests, None for double-leg squats.
    """

    kind: TestType
    index: int
    start: int
    deepest: int
    end: int
    side: Side | None = None
    complete: bool = True

    def __post_init__(self) -> None:
        if not (0 <= self.start <= self.deepest <= self.end):
            raise ValueError(
                f"Segment: expected 0 <= start <= deepest <= end, got {self.start}, {self.deepest}, {self.end}")


@dataclass(frozen=True)
class QualityGate:
    """One recording-quality check.

    ``blocking`` gates stop the screen when failed (the numbers would be meaningless);
    non-blocking ones lower the confidence of findings. ``message`` tells the user what to change.
    """

    gate: str
    passed: bool
    message: str
    blocking: bool = False
    value: float | None = None
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "passed": self.passed, "message": self.message,
                "blocking": self.blocking, "value": _round(self.value), "unit": self.unit}


@dataclass(frozen=True)
class Finding:
    """A screening finding.

    ``value`` is in ``unit`` with the metric's documented sign convention (``sign_convention``);
    ``threshold`` is the value it was compared to and ``reference`` the citation, or "heuristic".
    ``severity`` is "ok", "mild" or "marked". ``evidence_frame`` is a PoseSequence row.
    """

    code: str
    title: str
    side: Side | None
    metric: str
    value: float
    unit: str
    threshold: float
    severity: str
    confidence: str
    reference: str
    sign_convention: str
    message: str
    evidence_frame: int | None = None
    evidence_time_s: float | None = None
    rep_values: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "title": self.title,
            "side": self.side.value if self.side else None,
            "metric": self.metric, "value": _round(self.value), "unit": self.unit,
            "threshold": _round(self.threshold), "severity": self.severity,
            "confidence": self.confidence, "reference": self.reference,
            "sign_convention": self.sign_convention, "message": self.message,
            "evidence_frame": self.evidence_frame,
            "evidence_time_s": _round(self.evidence_time_s, 3),
            "rep_values": [_round(v) for v in self.rep_values],
        }


def _round(v: float | None, nd: int = 2) -> float | None:
    if v is None:
        return None
    v = float(v)
    return round(v, nd) if np.isfinite(v) else None
