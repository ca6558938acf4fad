"""Pose estimators behind one small protocol. MediaPipe is imported lazily.

Every backend returns landmarks already converted to pixels of the frame it was given
(x right, y down; z scaled like x), with visibility, plus MediaPipe's metric world landmarks.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import PoseModelUnavailable
from ..landmarks import N_LANDMARKS

MODEL_ENV = "CHAINSCAN_POSE_MODEL"


@dataclass(frozen=True)
class PoseFrame:
    """One person's landmarks in one frame.

    ``image``: (33, 4) float32: x_px, y_px, z (pixels, relative depth, smaller = nearer), visibility.
    ``world``: (33, 3) float32 metres, origin between the hips, y down.
    """

    image: np.ndarray
    world: np.ndarray


@runtime_checkable
class PoseEstimator(Protocol):
    """What the pipeline needs from a pose model."""

    name: str

    def estimate(self, rgb: np.ndarray, time_s: float) -> PoseFrame | None:
        """Track the person through a video: frames must come in time order. None = nobody found."""

    def detect_still(self, rgb: np.ndarray) -> PoseFrame | None:
        """Detect a person in a single image, without tracking (used to look for other people)."""

    def close(self) -> None: ...


@contextlib.contextmanager
def quiet_native_logs():
    """Silence the C++ log lines (TFLite/absl) MediaPipe writes straight to file descriptor 2.

    They carry nothing a user can act on; some are written later by MediaPipe's own threads, so wrap
    the whole run. Yields a text stream to the real stderr (for a progress bar). Python exceptions
    still propagate normally. Set CHAINSCAN_DEBUG=1 to see the native logs.
    """
    if os.environ.get("CHAINSCAN_DEBUG"):
        yield sys.stderr
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured by a test runner)
        yield sys.stderr
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    real = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        os.dup2(devnull, 2)
        yield real
    finally:
        real.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        real.close()


def _to_pixels(landmarks, width: int, height: int) -> np.ndarray:
    """MediaPipe normalised landmarks → (33, 4) pixels. The only place coordinates are rescaled."""
    arr = np.array([(lm.x, lm.y, lm.z, getattr(lm, "visibility", 1.0) or 0.0) for lm in landmarks],
                   dtype=np.float32)
    if arr.shape != (N_LANDMARKS, 4):
        raise PoseModelUnavailable(
            f"The pose model returned {arr.shape[0]} landmarks, not the 33 of BlazePose; use a MediaPipe "
            "pose_landmarker model.")
    arr[:, 0] *= width
    arr[:, 1] *= height
    arr[:, 2] *= width
    return arr


def _world(landmarks) -> np.ndarray:
    return np.array([(lm.x, lm.y, lm.z) for lm in landmarks], dtype=np.float32)


def bundled_model_path() -> Path:
    """Path of the Pose model that ships inside the mediapipe 0.10.21 wheel."""
    import mediapipe

    return Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / "pose_landmark_full.tflite"


class MediaPipeBundledPose:
    """The Pose model bundled with mediapipe 0.10.21 (BlazePose full), in video (tracking) mode.

    By default the model runs without its segmentation head, which chainscan never uses (see
    :mod:`chainscan.io.trimmed_model`: the same landmarks, a third less time per frame); ``trim=False`` or a
    copy that cannot be made runs MediaPipe's own graph unchanged. ``trimmed`` says which one runs."""

    name = "mediapipe-0.10.21-pose-full (bundled)"

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5, *,
                 trim: bool = True) -> None:
        try:
            import mediapipe as mp
        except ImportError as e:  # pragma: no cover - dependency missing
            raise PoseModelUnavailable(
                f"mediapipe is not installed ({e}); run pip install -e . in the chainscan folder.") from None
        path = bundled_model_path()
        if not path.is_file():
            raise PoseModelUnavailable(
                f"The bundled pose model is missing at {path}; reinstall mediapipe==0.10.21 or pass "
                f"--model PATH (or set {MODEL_ENV}) to a pose_landmarker .task file.")
        self._mp = mp
        self._conf = dict(min_detection_confidence=min_detection_confidence,
                          min_tracking_confidence=min_tracking_confidence)
        self._trim = trim
        with quiet_native_logs():
            self._video = self._pose(static_image_mode=False)
        self.trimmed = self._trim
        self._still = None

    def _pose(self, *, static_image_mode: bool):
        if self._trim:
            from .trimmed_model import trimmed_pose

            pose = trimmed_pose(static_image_mode=static_image_mode, **self._conf)
            if pose is not None:
                return pose
            self._trim = False  # no copy: the still graph, made later, runs MediaPipe's own model too
        return self._mp.solutions.pose.Pose(static_image_mode=static_image_mode, model_complexity=1,
                                            enable_segmentation=False, smooth_landmarks=False, **self._conf)

    def _run(self, pose, rgb: np.ndarray) -> PoseFrame | None:
        res = pose.process(rgb)
        if res.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        img = _to_pixels(res.pose_landmarks.landmark, w, h)
        world = (_world(res.pose_world_landmarks.landmark) if res.pose_world_landmarks is not None
                 else np.full((N_LANDMARKS, 3), np.nan, np.float32))
        return PoseFrame(img, world)

    def estimate(self, rgb: np.ndarray, time_s: float) -> PoseFrame | None:
        return self._run(self._video, rgb)

    def detect_still(self, rgb: np.ndarray) -> PoseFrame | None:
        if self._still is None:
            with quiet_native_logs():
                self._still = self._pose(static_image_mode=True)
        with quiet_native_logs():
            return self._run(self._still, rgb)

    def close(self) -> None:
        for p in (self._video, self._still):
            if p is not None:
                p.close()
        self._video = self._still = None  # type: ignore[assignment]


class MediaPipeTaskPose:
    """MediaPipe Tasks ``PoseLandmarker`` from a user-supplied ``.task`` file (lite, full or heavy)."""

    def __init__(self, model_path: str | os.PathLike) -> None:
        p = Path(model_path).expanduser()
        if not p.is_file():
            raise PoseModelUnavailable(
                f"Pose model file not found: {p}; pass the path of a pose_landmarker_*.task file.")
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as e:  # pragma: no cover
            raise PoseModelUnavailable(f"mediapipe Tasks are not available ({e}).") from None
        self._mp = mp
        self._vision = vision
        self._base = BaseOptions(model_asset_path=str(p))
        self.name = f"mediapipe-tasks PoseLandmarker ({p.name})"
        self._path = p
        self._video = self._create(vision.RunningMode.VIDEO)
        self._still: Any = None
        self._last_ms = -1

    def _create(self, mode):
        opts = self._vision.PoseLandmarkerOptions(base_options=self._base, running_mode=mode, num_poses=1)
        try:
            with quiet_native_logs():
                return self._vision.PoseLandmarker.create_from_options(opts)
        except (RuntimeError, ValueError) as e:
            raise PoseModelUnavailable(
                f"Pose model file {self._path} could not be loaded ({str(e).splitlines()[0]}); "
                "use a MediaPipe pose_landmarker .task file.") from None

    def _convert(self, res, rgb: np.ndarray) -> PoseFrame | None:
        if not res.pose_landmarks:
            return None
        h, w = rgb.shape[:2]
        img = _to_pixels(res.pose_landmarks[0], w, h)
        world = (_world(res.pose_world_landmarks[0]) if res.pose_world_landmarks
                 else np.full((N_LANDMARKS, 3), np.nan, np.float32))
        return PoseFrame(img, world)

    def estimate(self, rgb: np.ndarray, time_s: float) -> PoseFrame | None:
        ms = max(int(round(time_s * 1000)), self._last_ms + 1)
        self._last_ms = ms
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        return self._convert(self._video.detect_for_video(image, ms), rgb)

    def detect_still(self, rgb: np.ndarray) -> PoseFrame | None:
        if self._still is None:
            self._still = self._create(self._vision.RunningMode.IMAGE)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        return self._convert(self._still.detect(image), rgb)

    def close(self) -> None:
        for p in (self._video, self._still):
            if p is not None:
                p.close()
        self._video = self._still = None


def make_estimator(model_path: str | os.PathLike | None = None) -> PoseEstimator:
    """The estimator to use: ``model_path``, else $CHAINSCAN_POSE_MODEL, else the bundled model."""
    path = model_path or os.environ.get(MODEL_ENV) or None
    if path:
        return MediaPipeTaskPose(path)
    return MediaPipeBundledPose()
