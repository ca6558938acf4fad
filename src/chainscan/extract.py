"""Video → PoseSequence: run a pose estimator over a video, frame by frame (streaming)."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .errors import InsufficientData
from .io.pose import PoseEstimator, PoseFrame
from .io.video import VideoReader
from .landmarks import N_LANDMARKS
from .types import PoseSequence

#: progress callback: (frames done, frames expected or 0 if unknown)
Progress = Callable[[int, int], None]

#: how many frames are re-examined for other people in view
PEOPLE_CHECK_FRAMES = 5


def extract_pose(video: str | os.PathLike, estimator: PoseEstimator, *, max_fps: float | None = None,
                 progress: Progress | None = None, check_other_people: bool = True) -> PoseSequence:
    """Run ``estimator`` over every kept frame of ``video``.

    Landmarks are pixels of the upright frame. Frames where nobody is found are NaN rows.
    Memory does not grow with video length beyond the landmarks themselves (≈ 1 KB per frame): each
    frame is released once the model has seen it (the several-people check runs on the frame at hand).
    Raises VideoReadError for unreadable input and InsufficientData when nobody is ever found.
    """
    if max_fps is not None and max_fps <= 0:
        raise ValueError("max_fps must be > 0")
    coords: list[np.ndarray] = []
    world: list[np.ndarray] = []
    times: list[float] = []
    indices: list[int] = []
    nan_img = np.full((N_LANDMARKS, 4), np.nan, np.float32)
    nan_world = np.full((N_LANDMARKS, 3), np.nan, np.float32)
    with VideoReader(video) as reader:
        meta = reader.meta
        expected = meta.n_frames_declared
        if max_fps and meta.fps > max_fps and expected:
            expected = int(np.ceil(expected * max_fps / meta.fps))
        # frames to look for other people in: spread over the clip
        check_at = set(np.linspace(0, max(expected - 1, 0), PEOPLE_CHECK_FRAMES).astype(int).tolist()) \
            if (check_other_people and expected) else set()
        people_checks: list[bool] = []
        for k, frame in enumerate(reader.frames(max_fps=max_fps)):
            pf = estimator.estimate(frame.rgb, frame.time_s)
            coords.append(pf.image if pf is not None else nan_img)
            world.append(pf.world if pf is not None else nan_world)
            times.append(frame.time_s)
            indices.append(frame.index)
            if k in check_at and pf is not None:
                people_checks.append(_other_person_present(estimator, frame.rgb, pf))
            if progress is not None:
                progress(k + 1, expected)
    if not coords:
        raise InsufficientData(f"{meta.source} has no frames to analyse; record a longer clip.")
    arr = np.stack(coords)
    if not np.isfinite(arr[:, :, 0]).any():
        raise InsufficientData(
            f"Nobody was found in {meta.source}; film the whole body, facing the camera, in good light.")
    return PoseSequence(
        coords=np.ascontiguousarray(arr[:, :, :3]), visibility=np.ascontiguousarray(arr[:, :, 3]),
        world=np.stack(world), timestamps=np.asarray(times, np.float64),
        frame_indices=np.asarray(indices, np.int64), meta=meta, model=estimator.name,
        extra={"other_people_checks": len(people_checks),
               "other_people_found": int(sum(people_checks))})


def _other_person_present(estimator: PoseEstimator, rgb: np.ndarray, main: PoseFrame) -> bool:
    """Blank out the tracked person and look again: is there another full-size person?"""
    pts = main.image[:, :2]
    ok = np.isfinite(pts).all(axis=1)
    if not ok.any():
        return False
    h, w = rgb.shape[:2]
    x0, y0 = pts[ok].min(axis=0)
    x1, y1 = pts[ok].max(axis=0)
    body_h = max(y1 - y0, 1.0)
    pad_x, pad_y = 0.25 * body_h, 0.12 * body_h
    masked = rgb.copy()
    xa, xb = int(max(0, x0 - pad_x)), int(min(w, x1 + pad_x))
    ya, yb = int(max(0, y0 - pad_y)), int(min(h, y1 + pad_y))
    masked[ya:yb, xa:xb] = masked[ya:yb, xa:xb].mean(axis=(0, 1), keepdims=True).astype(np.uint8)
    other = estimator.detect_still(masked)
    if other is None:
        return False
    o = other.image
    vis = o[:, 3] > 0.5
    if vis.sum() < 12:
        return False
    oy = o[vis, 1]
    # count only people of a size that could be mistaken for the subject (≥ 30 % of their height)
    return bool((oy.max() - oy.min()) >= 0.3 * body_h)
