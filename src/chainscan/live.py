"""The live (webcam) path, without Streamlit: frames in, overlay out, landmarks on a queue.

Threads (ARCHITECTURE.md point 13):

- The WebRTC frame callback runs on a worker thread (streamlit-webrtc's ``async_processing``). It is
  :meth:`LiveSession.on_av_frames`: of the frames that arrived since the last call it analyses only the
  newest (the older ones are skipped and counted: frames are dropped rather than queued, so latency
  cannot build up), through :meth:`LiveSession.on_frame`, which only un-mirrors the frame when needed,
  runs the pose model, draws the skeleton and the knee angles, and pushes a :class:`LiveSample` on a
  bounded queue (the oldest sample is dropped, and counted, when the queue is full: nothing waits).
- The script thread drains the queue (:meth:`LiveSession.drain`) into a :class:`Protocol`
  (setup check → countdown → timed test → done), and finally analyses
  :meth:`Protocol.to_pose_sequence` with :func:`chainscan.pipeline.screen_pose`.

Mirroring: browsers send the camera's frames as the camera sees them (not mirrored); only the
``<video>`` preview is commonly mirrored. Some virtual or phone cameras do send mirrored frames:
``LiveSession(input_mirrored=True)`` flips them back in :func:`unmirror`, the one place where this
happens, *before* the model sees them, so "left" is always the subject's left. The overlay returned
for display can itself be mirrored (``mirror_preview=True``: the user sees themselves as in a mirror);
its labels still name the subject's sides.

Conventions as elsewhere: pixels of the analysed (un-mirrored) frame, x right, y down; FPPA in
degrees, + = knee medial to the hip→ankle line (valgus), − = lateral (varus).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import queue
import re
import threading
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .config import QualityConfig, SignalConfig
from .errors import ConfigError
from .extract import frame_brightness
from .geometry import compute_fppa
from .io.pose import PoseEstimator, PoseFrame
from .landmarks import N_LANDMARKS, SKELETON_EDGES, Side
from .landmarks import Landmark as L
from .report.draw import BONE_RGB, MUTED_RGB, RGB, TEXT_RGB, Canvas, Style, _cv2
from .types import PoseSequence, QualityGate, TestType, VideoMeta

ICE_ENV = "CHAINSCAN_ICE_SERVERS"

# ---------------------------------------------------------------------------------------------------
# mirroring


def unmirror(rgb: np.ndarray) -> np.ndarray:
    """The frame flipped left↔right (a mirrored frame becomes the camera's view, and vice versa).

    Returns a C-contiguous copy (MediaPipe needs contiguous input). OpenCV's flip: ~0.04 ms for a
    640×480 RGB frame, against ~2.4 ms for NumPy's copy of a reversed view."""
    if rgb.ndim in (2, 3) and rgb.size and (rgb.ndim == 2 or rgb.shape[2] <= 4):
        return _cv2().flip(np.ascontiguousarray(rgb), 1)
    return np.ascontiguousarray(rgb[:, ::-1])


def mirror_points(xy: np.ndarray, width: int) -> np.ndarray:
    """Image points (..., 2) of a frame ``width`` px wide, as they appear in the flipped frame."""
    out = np.array(xy, dtype=np.float64, copy=True)
    out[..., 0] = width - out[..., 0]
    return out


# ---------------------------------------------------------------------------------------------------
# the frame callback side


@dataclass(frozen=True)
class LiveSample:
    """What the frame callback queues for one frame: the time (s), a running frame index, the pose
    (None when nobody was found) in pixels of the un-mirrored ``width`` × ``height`` frame."""

    t: float
    index: int
    frame: PoseFrame | None
    width: int
    height: int


@dataclass(frozen=True)
class LiveStats:
    """Counters of the live path. ``latency_ms``: mean time from a frame entering ``on_frame`` to its
    overlay leaving it, over the last ``window`` frames (``latency_p95_ms`` its 95th percentile);
    ``fps``: frames processed per second of wall-clock time over the same window; ``dropped``: samples
    dropped because the queue was full; ``last_frame_age_s``: seconds since the last frame (inf if none);
    ``skipped``: frames not analysed because a newer frame had arrived meanwhile (:meth:`LiveSession.on_av_frames`);
    ``pose_ms`` / ``overlay_ms``: mean time of the pose model / of the overlay drawing per frame (same window)."""

    frames: int
    detected: int
    dropped: int
    fps: float
    latency_ms: float
    latency_p95_ms: float
    last_frame_age_s: float
    skipped: int = 0
    pose_ms: float = math.nan
    overlay_ms: float = math.nan


EstimatorFactory = Callable[[], PoseEstimator]


def _in_process_estimator() -> PoseEstimator:
    from .io.pose import make_estimator

    return make_estimator()


class ProcessPose:
    """The pose model (:func:`chainscan.io.pose.make_estimator`) run in a child process, one frame at a time.

    Same model, same tracking, same landmarks; only where it runs differs. In the dashboard the frame
    callback shares one interpreter lock with aiortc's networking and codec threads and Streamlit's
    script and server threads: every time the model hands control back to Python it may wait for the
    lock. In its own process it does not; a frame costs one copy through a socket (~1 ms at 640×480).
    The child is a plain ``python -c`` (no re-import of the parent's main module) and ends when told to,
    or when the parent goes away.
    """

    def __init__(self, model_path: str | None = None, *, start_timeout_s: float = 120.0) -> None:
        import os
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        from pathlib import Path

        from .errors import PoseModelUnavailable

        ours, theirs = socket.socketpair()
        src = str(Path(__file__).resolve().parents[1])  # the folder holding the chainscan package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        code = f"from chainscan.live import _pose_process_main; _pose_process_main({theirs.fileno()}, {model_path!r})"
        self._proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()],
                                      stdin=subprocess.DEVNULL, env=env)
        theirs.close()
        self._conn = Connection(ours.detach())
        self.name = "unknown"
        msg: Any = None
        try:
            if self._conn.poll(start_timeout_s):
                msg = self._conn.recv()
        except (EOFError, OSError):
            msg = None
        if not (isinstance(msg, tuple) and msg and msg[0] == "ready"):
            self.close()
            why = msg[1] if isinstance(msg, tuple) and len(msg) > 1 else "it did not start"
            raise PoseModelUnavailable(f"The pose model process failed: {why}")
        self.name = str(msg[1])

    def _call(self, mode: str, rgb: np.ndarray, time_s: float) -> PoseFrame | None:
        a = np.ascontiguousarray(rgb, dtype=np.uint8)
        try:
            self._conn.send((mode, a.shape, float(time_s)))
            self._conn.send_bytes(a.reshape(-1).data)
            msg = self._conn.recv()
        except (EOFError, OSError) as e:
            raise RuntimeError(f"the pose model process is gone ({type(e).__name__})") from None
        if msg[0] == "ok":
            return PoseFrame(msg[1], msg[2])
        if msg[0] == "none":
            return None
        raise RuntimeError(f"the pose model failed: {msg[1]}")

    def estimate(self, rgb: np.ndarray, time_s: float) -> PoseFrame | None:
        return self._call("video", rgb, time_s)

    def detect_still(self, rgb: np.ndarray) -> PoseFrame | None:
        return self._call("still", rgb, 0.0)

    def close(self) -> None:
        """End the child (idempotent)."""
        import subprocess

        if not self._conn.closed:
            try:
                self._conn.send(("close",))
            except (OSError, ValueError):
                pass
            self._conn.close()
        try:
            self._proc.wait(5.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5.0)


def _pose_process_main(fd: int, model_path: str | None) -> None:
    """The child of :class:`ProcessPose`: build the model, then answer frames until told to stop (or the
    parent is gone)."""
    from multiprocessing.connection import Connection

    from .io.pose import make_estimator

    conn = Connection(fd)
    try:
        est = make_estimator(model_path)
    except Exception as e:  # reported to the parent, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", getattr(est, "name", "unknown")))
    try:
        while True:
            try:
                msg = conn.recv()
                if msg[0] == "close":
                    break
                mode, shape, t = msg
                rgb = np.frombuffer(conn.recv_bytes(), np.uint8).reshape(shape)
            except (EOFError, OSError):
                break
            try:
                pf = est.estimate(rgb, t) if mode == "video" else est.detect_still(rgb)
            except Exception as e:
                conn.send(("error", f"{type(e).__name__}: {e}"))
                continue
            conn.send(("none",) if pf is None else ("ok", pf.image, pf.world))
    finally:
        est.close()


def default_estimator() -> PoseEstimator:
    """The dashboard's pose model: the bundled (or configured) model, in its own process (:class:`ProcessPose`),
    or in this one where no child process can be started."""
    try:
        return ProcessPose()
    except OSError:
        return _in_process_estimator()


class LiveSession:
    """Feed it frames from the WebRTC callback; read samples and stats from the script thread.

    ``estimator_factory`` builds the pose model lazily on the first frame (in the callback thread) and
    again after :meth:`close` (tracking state starts afresh). ``queue_size`` bounds the sample queue.
    """

    def __init__(self, estimator_factory: EstimatorFactory = default_estimator, *, input_mirrored: bool = False,
                 mirror_preview: bool = True, queue_size: int = 300, draw: bool = True,
                 stats_window: int = 60, keep_frames: int = 0) -> None:
        if queue_size < 1:
            raise ValueError(f"LiveSession.queue_size must be >= 1, got {queue_size}")
        if keep_frames < 0:
            raise ValueError(f"LiveSession.keep_frames must be >= 0, got {keep_frames}")
        #: how many analysed (un-mirrored) frames are held for :meth:`take_frame` (0: none); the oldest go first
        self.keep_frames = keep_frames
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()
        self._factory = estimator_factory
        self.input_mirrored = input_mirrored
        self.mirror_preview = mirror_preview
        self.draw = draw
        self._queue: queue.Queue[LiveSample] = queue.Queue(maxsize=queue_size)
        self._est: PoseEstimator | None = None
        self._est_lock = threading.Lock()
        self._lock = threading.Lock()
        self._banner: tuple[str, ...] = ()
        self._frames = 0
        self._detected = 0
        self._dropped = 0
        self._last_t: float | None = None
        self._skipped = 0
        self._latency: deque[float] = deque(maxlen=stats_window)
        self._pose_s: deque[float] = deque(maxlen=stats_window)
        self._draw_s: deque[float] = deque(maxlen=stats_window)
        self._arrivals: deque[float] = deque(maxlen=stats_window)
        self.model_name = "unknown"

    # -- callback thread
    def on_frame(self, rgb: np.ndarray, t: float | None = None) -> np.ndarray:
        """Estimate the pose on one RGB uint8 frame (H, W, 3) taken at ``t`` seconds (None: now), queue
        the sample, and return the frame to display with the skeleton and knee angles drawn."""
        t0 = time.perf_counter()
        if t is None:
            t = time.monotonic()
        frame = unmirror(rgb) if self.input_mirrored else np.ascontiguousarray(rgb)
        h, w = frame.shape[:2]
        with self._est_lock:
            if self._est is None:
                self._est = self._factory()
                self.model_name = getattr(self._est, "name", "unknown")
            t1 = time.perf_counter()
            pose = self._est.estimate(frame, float(t))
            t2 = time.perf_counter()
        with self._lock:
            # frame times must increase for the tracker's and the PoseSequence's sake
            if self._last_t is not None and t <= self._last_t:
                t = self._last_t + 1e-3
            self._last_t = float(t)
            index = self._frames
            self._frames += 1
            self._detected += pose is not None
            banner = self._banner
        if self.keep_frames:
            with self._lock:
                self._kept[index] = frame  # a fresh array per frame: the overlay below draws on a copy
                while len(self._kept) > self.keep_frames:
                    self._kept.popitem(last=False)
        self._put(LiveSample(float(t), index, pose, w, h))
        t3 = time.perf_counter()
        if self.draw:
            out = draw_live_overlay(frame, pose, banner, mirror=self.mirror_preview)
        else:
            out = unmirror(frame) if self.mirror_preview else frame
        t4 = time.perf_counter()
        with self._lock:
            self._latency.append(t4 - t0)
            self._pose_s.append(t2 - t1)
            self._draw_s.append(t4 - t3)
            self._arrivals.append(t4)
        return out

    def on_av_frame(self, frame: Any) -> Any:
        """:meth:`on_frame` on a PyAV ``VideoFrame`` (what streamlit-webrtc hands the callback); returns
        the overlay as a new ``VideoFrame`` (RGB). The frame's time is its media time (``frame.time``),
        or now when it has none."""
        import av

        rgb = frame.to_ndarray(format="rgb24")
        t = frame.time if frame.time is not None else time.monotonic()
        return av.VideoFrame.from_ndarray(self.on_frame(rgb, t), format="rgb24")

    async def on_av_frames(self, frames: Sequence[Any]) -> list[Any]:
        """streamlit-webrtc's ``queued_video_frames_callback`` (with ``async_processing=True``): the frames
        that arrived while the previous one was being analysed, oldest first. Only the newest is
        analysed (the others are skipped and counted in :attr:`LiveStats.skipped`): when the analysis is
        slower than the camera, frames are dropped instead of waiting, so the overlay never lags
        behind by more than one frame's processing. Returns one overlay frame."""
        if not frames:
            return []
        self.note_skipped(len(frames) - 1)
        return [self.on_av_frame(frames[-1])]

    def note_skipped(self, n: int) -> None:
        """Count ``n`` frames that were not analysed because a newer one had arrived."""
        if n > 0:
            with self._lock:
                self._skipped += n

    def timings_ms(self) -> dict[str, np.ndarray]:
        """Per-frame times (ms) over the last ``stats_window`` frames: ``total`` (frame in → overlay
        out of :meth:`on_frame`), ``pose`` (the model) and ``overlay`` (the drawing)."""
        with self._lock:
            return {"total": np.asarray(self._latency, float) * 1000, "pose": np.asarray(self._pose_s, float) * 1000,
                    "overlay": np.asarray(self._draw_s, float) * 1000}

    def _put(self, sample: LiveSample) -> None:
        while True:
            try:
                self._queue.put_nowait(sample)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # drop the oldest: the newest matters most
                    with self._lock:
                        self._dropped += 1
                except queue.Empty:
                    pass

    # -- script thread
    def drain(self, max_items: int | None = None) -> list[LiveSample]:
        """The queued samples, oldest first (at most ``max_items``)."""
        out: list[LiveSample] = []
        while max_items is None or len(out) < max_items:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out

    def take_frame(self, index: int) -> np.ndarray | None:
        """The analysed (un-mirrored) RGB frame of sample ``index``, handed over once (None when it was not
        kept or is gone: at most ``keep_frames`` frames are held, the oldest dropped first)."""
        with self._lock:
            return self._kept.pop(index, None)

    def release_frames(self, upto: int) -> None:
        """Forget the kept frames of samples ``index <= upto`` (the script thread is done with them)."""
        with self._lock:
            while self._kept and next(iter(self._kept)) <= upto:
                self._kept.popitem(last=False)

    def set_banner(self, lines: Sequence[str]) -> None:
        """Text drawn at the top of the overlay from the next frame on (e.g. the countdown)."""
        with self._lock:
            self._banner = tuple(lines)

    def stats(self) -> LiveStats:
        with self._lock:
            lat = np.asarray(self._latency, float) * 1000
            arr = list(self._arrivals)
            fps = (len(arr) - 1) / (arr[-1] - arr[0]) if len(arr) >= 2 and arr[-1] > arr[0] else 0.0
            age = time.perf_counter() - arr[-1] if arr else math.inf
            pose_ms = float(np.mean(self._pose_s)) * 1000 if self._pose_s else math.nan
            draw_ms = float(np.mean(self._draw_s)) * 1000 if self._draw_s else math.nan
            return LiveStats(self._frames, self._detected, self._dropped, float(fps),
                             float(lat.mean()) if lat.size else math.nan,
                             float(np.percentile(lat, 95)) if lat.size else math.nan, float(age),
                             self._skipped, pose_ms, draw_ms)

    def reset(self) -> None:
        """Forget queued samples and counters (the model is kept)."""
        self.drain()
        with self._lock:
            self._frames = self._detected = self._dropped = self._skipped = 0
            self._last_t = None
            self._latency.clear()
            self._pose_s.clear()
            self._draw_s.clear()
            self._arrivals.clear()
            self._kept.clear()
            self._banner = ()

    def close(self) -> None:
        """Release the pose model (a later frame builds a new one)."""
        with self._est_lock:
            if self._est is not None:
                self._est.close()
            self._est = None


# ---------------------------------------------------------------------------------------------------
# the overlay

LEG_RGB = (90, 180, 255)


def knee_fppa(image: np.ndarray) -> dict[Side, float]:
    """FPPA (°) per side from one frame's (33, ≥2) pixel landmarks of the un-mirrored frame."""
    xy = np.asarray(image, float)[:, :2]
    out = {}
    for side in Side:
        hip, knee, ankle = (xy[int(L[f"{side.name}_{j}"])] for j in ("HIP", "KNEE", "ANKLE"))
        with np.errstate(invalid="ignore"):
            out[side] = float(compute_fppa(hip, knee, ankle, side))
    return out


def _fmt_deg(v: float) -> str:
    return f"{v:+.0f}\u00b0".replace("-", "\u2212") if np.isfinite(v) else "\u2013"


Block = tuple[tuple[str, int, RGB], ...]


@lru_cache(maxsize=128)
def _measured_block(lines: Block, width: int, style: Style) -> tuple[tuple[tuple[str, int, RGB, RGB | None, int], ...],
                                                                    int, int]:
    laid, w, h = Canvas(np.zeros((1, 1, 3), np.uint8), style).measure_block(lines, width)
    return tuple(laid), w, h


class _LiveCanvas(Canvas):
    """A canvas whose text blocks are laid out once per distinct text: the banner changes a few times a
    second at most, and wrapping it word by word with Pillow's measurements cost ~0.8 ms per frame."""

    def measure_block(self, lines: Sequence[tuple[str, int, RGB]], width: int
                      ) -> tuple[list[tuple[str, int, RGB, RGB | None, int]], int, int]:
        key = tuple((str(t), int(size), (int(col[0]), int(col[1]), int(col[2]))) for t, size, col in lines)
        laid, w, h = _measured_block(key, int(width), self.style)
        return list(laid), w, h


def draw_live_overlay(frame: np.ndarray, pose: PoseFrame | None, banner: Sequence[str] = (), *,
                      mirror: bool = True) -> np.ndarray:
    """A copy of the un-mirrored ``frame`` (flipped when ``mirror``) with the skeleton, each knee's
    FPPA and the ``banner`` lines drawn. Angles are measured on the un-mirrored landmarks; labels name
    the subject's sides."""
    h, w = frame.shape[:2]
    out = unmirror(frame) if mirror else frame.copy()
    c = _LiveCanvas(out, Style.for_frame(w, h))
    st = c.style
    if pose is not None:
        fppa = knee_fppa(pose.image)
        xy = np.asarray(pose.image[:, :2], np.float64)
        if mirror:
            xy = mirror_points(xy, w)
        for a, b in SKELETON_EDGES:
            c.line(xy[int(a)], xy[int(b)], BONE_RGB, st.bone_px)
        for side in Side:
            hip, knee, ankle = (xy[int(L[f"{side.name}_{j}"])] for j in ("HIP", "KNEE", "ANKLE"))
            c.line(hip, knee, LEG_RGB, st.accent_px - 1)
            c.line(knee, ankle, LEG_RGB, st.accent_px - 1)
        for lm in (L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_SHOULDER, L.RIGHT_SHOULDER, L.LEFT_ANKLE, L.RIGHT_ANKLE):
            c.joint(xy[int(lm)], BONE_RGB, st.joint_r)
        lk, rk = xy[int(L.LEFT_KNEE)], xy[int(L.RIGHT_KNEE)]
        for side, knee, other in ((Side.LEFT, lk, rk), (Side.RIGHT, rk, lk)):
            c.joint(knee, LEG_RGB, st.joint_r + max(1, st.joint_r // 2))
            outward = "right" if not np.isfinite(other[0]) or knee[0] >= other[0] else "left"
            inward = "left" if outward == "right" else "right"
            letter = "L" if side is Side.LEFT else "R"
            c.label(knee, f"{letter} knee {_fmt_deg(fppa[side])}", TEXT_RGB, prefer=(outward, "below", inward),
                    offset=10 * st.scale)
    lines = [(banner[0], st.font_px, TEXT_RGB)] if banner else []
    lines += [(b, st.small_px, TEXT_RGB) for b in banner[1:]]
    if pose is None:
        lines.append(("No person found", st.small_px, (255, 184, 28)))
    if pose is not None or banner:
        lines.append(("knee + = inward (valgus)", st.small_px, MUTED_RGB))
    if lines:
        c.text_block(st.gap, st.gap, lines, width=min(w - 2 * st.gap, round(360 * st.scale)))
    return c.finish()


# ---------------------------------------------------------------------------------------------------
# from samples to a PoseSequence


def samples_to_pose(samples: Sequence[LiveSample], *, model: str = "unknown", source: str = "webcam",
                    fps: float | None = None) -> PoseSequence:
    """A PoseSequence from queued samples: times start at 0 and strictly increase (samples whose time does
    not are skipped), frame indices are the samples' running indices, NaN rows where nobody was found."""
    kept: list[LiveSample] = []
    for s in samples:
        if kept and (s.t <= kept[-1].t or s.index <= kept[-1].index):
            continue
        kept.append(s)
    if not kept:
        raise ValueError("samples_to_pose: no samples")
    n = len(kept)
    coords = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    vis = np.full((n, N_LANDMARKS), np.nan, np.float32)
    world = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    for i, s in enumerate(kept):
        if s.frame is not None:
            coords[i] = s.frame.image[:, :3]
            vis[i] = s.frame.image[:, 3]
            world[i] = s.frame.world
    t = np.array([s.t for s in kept], np.float64)
    t -= t[0]
    if fps is None:
        fps = float(1.0 / np.median(np.diff(t))) if n > 1 else 30.0
    w, h = kept[0].width, kept[0].height
    meta = VideoMeta(source=source, width=w, height=h, fps=fps, n_frames_declared=n,
                     duration_s=float(t[-1]) + 1.0 / fps)
    return PoseSequence(coords=coords, visibility=vis, world=world, timestamps=t,
                        frame_indices=np.array([s.index for s in kept], np.int64), meta=meta, model=model,
                        extra={"live": True})


# ---------------------------------------------------------------------------------------------------
# keeping the recorded frames (so the webcam result gets an annotated video and key frames like an upload)


class LiveRecorder:
    """Writes the frames of the samples a :class:`Protocol` records (countdown + timed test) to an H.264
    MP4 as they arrive, so memory stays bounded however long the test runs.

    The frames are the analysed ones (un-mirrored, at the analysed rate); each keeps its sample's time
    (variable frame rate, millisecond timestamps), so the clip plays in real time. Only samples whose
    frame was still there are written, and :meth:`pose` holds exactly those samples with frame indices
    0, 1, 2, … of the file, so the annotated video and the key frames line up with the landmarks.

    Used from the script thread: after each ``proto.feed_many(samples)`` call :meth:`sync` with the same
    samples; it writes the newly recorded ones, starts over when the protocol went back to setup, and
    releases every other kept frame.
    """

    def __init__(self, path: str | os.PathLike, *, crf: int = 23, preset: str = "ultrafast") -> None:
        self.path = Path(path)
        self.crf = crf
        self.preset = preset
        self.samples: list[LiveSample] = []
        self._luma: list[float] = []  # brightness of each written frame, for the lighting gate
        self.missing = 0          # recorded samples whose frame was gone (not written, not analysed)
        self.skipped_size = 0     # frames of another size than the first (the camera changed resolution)
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._enc_size = (0, 0)
        self._t0 = 0.0
        self._last_pts = -1
        self._first_index: int | None = None
        self._last_index = -1
        self.closed = False

    # -- feeding
    def sync(self, proto: Protocol, session: LiveSession, drained: Sequence[LiveSample]) -> None:
        """Write the samples ``proto`` recorded among ``drained`` (taking their frames from ``session``)."""
        if self.closed:
            return
        rec = proto.recorded
        if self._first_index is not None and (not rec or rec[0].index != self._first_index):
            self.discard()                 # the protocol went back to setup: this recording is void
        if rec:
            new: list[LiveSample] = []
            for smp in reversed(rec):      # the new ones are at the end
                if smp.index <= self._last_index:
                    break
                new.append(smp)
            for smp in reversed(new):
                self.add(smp, session.take_frame(smp.index))
        if drained:
            session.release_frames(max(x.index for x in drained))

    def add(self, sample: LiveSample, rgb: np.ndarray | None) -> bool:
        """Write one recorded sample's frame; False when it was not written (no frame, a time or index that
        does not increase, or another frame size)."""
        if self.closed:
            raise ValueError("LiveRecorder.add: the recording is closed")
        if self._first_index is None:
            self._first_index = sample.index
        if sample.index <= self._last_index:
            return False
        self._last_index = sample.index
        if rgb is None:
            self.missing += 1
            return False
        h, w = rgb.shape[:2]
        if self._size is None:
            self._open(w, h, sample.t)
        elif (w, h) != self._size:
            self.skipped_size += 1
            return False
        pts = int(round((sample.t - self._t0) * 1000))
        if pts <= self._last_pts:
            return False
        import av

        ew, eh = self._enc_size
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:eh, :ew, :3], np.uint8), format="rgb24")
        frame.pts = pts
        frame.time_base = _MS
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last_pts = pts
        self.samples.append(sample)
        self._luma.append(round(frame_brightness(rgb), 1))
        return True

    def _open(self, w: int, h: int, t0: float) -> None:
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), "w", format="mp4")
        stream = self._container.add_stream("libx264", rate=30)
        # H.264 in yuv420p needs even sizes: an odd camera size loses its last row/column (pixel
        # coordinates of the landmarks are unchanged by that crop)
        self._enc_size = (w - w % 2, h - h % 2)
        stream.width, stream.height = self._enc_size
        stream.pix_fmt = "yuv420p"
        stream.time_base = _MS
        stream.codec_context.time_base = _MS
        stream.thread_count = 1
        stream.options = {"preset": self.preset, "crf": str(self.crf)}
        self._stream = stream
        self._size = (w, h)
        self._t0 = t0

    # -- results
    @property
    def n_frames(self) -> int:
        return len(self.samples)

    def close(self) -> Path | None:
        """Finish the file; its path, or None when no frame was written (nothing is left on disk then)."""
        if self.closed:
            return self.path if self.samples else None
        self.closed = True
        if self._container is not None:
            try:
                for packet in self._stream.encode():
                    self._container.mux(packet)
            finally:
                self._container.close()
        if not self.samples:
            self.path.unlink(missing_ok=True)
            return None
        return self.path

    def discard(self) -> None:
        """Forget what was written so far (the file is removed); the recorder can be used again."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self.path.unlink(missing_ok=True)
        self.__init__(self.path, crf=self.crf, preset=self.preset)  # type: ignore[misc]

    def pose(self, *, model: str = "unknown") -> PoseSequence:
        """The written samples as a PoseSequence whose frame indices are the file's frame numbers."""
        if not self.samples:
            raise ValueError("LiveRecorder.pose: no frame was recorded")
        pose = samples_to_pose(self.samples, model=model, source=self.path.name)
        if pose.n_frames != len(self.samples):  # cannot happen: add() keeps times and indices increasing
            raise ValueError("LiveRecorder.pose: the samples do not match the recorded frames")
        ew, eh = self._enc_size
        meta = dataclasses.replace(pose.meta, width=ew, height=eh)
        return dataclasses.replace(pose, frame_indices=np.arange(pose.n_frames, dtype=np.int64), meta=meta,
                                   extra={**pose.extra, "recorded_video": True, "luma": list(self._luma)})


_MS = Fraction(1, 1000)


# ---------------------------------------------------------------------------------------------------
# camera setup


@dataclass(frozen=True)
class SetupStatus:
    """``passed``: the camera setup is good enough to start; ``instructions``: what to change, in order."""

    passed: bool
    instructions: tuple[str, ...]
    gates: tuple[QualityGate, ...] = ()


STEP_INTO_VIEW = "Step into the picture, facing the camera, so it can see you from head to feet"
FEET_IN = "Step back until your feet are in the picture"
HEAD_IN = "Step back (or tilt the camera up) until your head and shoulders are in the picture"
BODY_IN = "Step back until your whole body, head to feet, is in the picture"
FACE_CAMERA = "Turn to face the camera"
TURN_AROUND = "Turn around to face the camera"
SQUARE_ON = "Turn a little so you stand square to the camera"
COME_CLOSER = "Come closer to the camera: your body should fill most of the picture height (about 2–4 m away)"
HOLD_STILL = "Good: stand still, facing the camera"

_PART_INSTRUCTION = {"feet": FEET_IN, "ankles": FEET_IN, "shoulders": HEAD_IN, "hips": BODY_IN, "knees": BODY_IN}


class SetupCheck:
    """Coach the camera setup from the last ``window_s`` seconds of samples.

    Reuses the recording-quality gates of :mod:`chainscan.quality` (whole body in view, frontal view,
    distance) on a small PoseSequence, and turns failures into plain instructions.
    """

    def __init__(self, quality: QualityConfig | None = None, signal: SignalConfig | None = None, *,
                 window_s: float = 1.0, min_frames: int = 5, min_detected: float = 0.7) -> None:
        self.quality = quality or QualityConfig()
        self.signal = signal or SignalConfig()
        self.window_s = window_s
        self.min_frames = min_frames
        self.min_detected = min_detected

    def recent(self, samples: Sequence[LiveSample]) -> list[LiveSample]:
        if not samples:
            return []
        t_end = samples[-1].t
        return [s for s in samples if s.t >= t_end - self.window_s]

    def check(self, samples: Sequence[LiveSample]) -> SetupStatus:
        from . import quality as q
        from .signal import clean_pose

        recent = self.recent(samples)
        if len(recent) < self.min_frames:
            return SetupStatus(False, ("Waiting for the camera…",))
        det = [s for s in recent if s.frame is not None]
        if len(det) < self.min_detected * len(recent):
            return SetupStatus(False, (STEP_INTO_VIEW,))
        pose = samples_to_pose(recent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            clean = clean_pose(pose, self.signal)
            lower = [L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE]
            ok = clean.measured[:, lower].all(axis=1)
            gates = (q.full_body_gate(pose, self.quality), q.frontal_view_gate(clean, self.quality),
                     q.distance_gate(clean, ok, pose.meta.height, self.quality))
        out: list[str] = []
        body, view, dist = gates
        if not view.passed:
            msg = view.message.lower()
            out.append(TURN_AROUND if "back view" in msg else SQUARE_ON if "angle" in msg else FACE_CAMERA)
        if not body.passed:
            m = re.search(r"The (\w+) are outside", body.message)
            out.append(_PART_INSTRUCTION.get(m.group(1) if m else "", BODY_IN))
        if not dist.passed and body.passed:
            out.append(COME_CLOSER)
        return SetupStatus(not out, tuple(out) if out else (HOLD_STILL,), gates)


# ---------------------------------------------------------------------------------------------------
# the guided protocol


class Phase(str, Enum):
    SETUP = "setup"
    COUNTDOWN = "countdown"
    TEST = "test"
    DONE = "done"


@dataclass(frozen=True)
class LiveTest:
    """Which test the webcam protocol runs.

    ``side``: the stance leg of a single-leg squat (required) or single-leg stance (None = both legs,
    right first). ``reps``: squats to count; ``hold_s``: seconds on each leg for the stance test.
    ``max_s``: the test phase ends after this long even if unfinished (0 = a default from the test)."""

    test: TestType
    side: Side | None = None
    reps: int = 5
    hold_s: float = 30.0
    max_s: float = 0.0

    def __post_init__(self) -> None:
        if self.test is TestType.SINGLE_LEG_SQUAT and self.side is None:
            raise ValueError("LiveTest: a single-leg squat needs the stance side")
        if self.test is TestType.DOUBLE_LEG_SQUAT and self.side is not None:
            raise ValueError("LiveTest: a double-leg squat has no stance side")
        if self.reps < 1 or self.hold_s <= 0:
            raise ValueError(f"LiveTest: reps must be >= 1 and hold_s > 0, got {self.reps}, {self.hold_s}")

    @property
    def sides(self) -> tuple[Side, ...]:
        if self.side is not None:
            return (self.side,)
        return (Side.RIGHT, Side.LEFT) if self.test is TestType.SINGLE_LEG_STANCE else ()

    @property
    def time_limit_s(self) -> float:
        if self.max_s > 0:
            return self.max_s
        if self.test is TestType.SINGLE_LEG_STANCE:
            return len(self.sides) * (self.hold_s + 30.0)
        return max(30.0, 8.0 * self.reps)

    @property
    def label(self) -> str:
        if self.test is TestType.SINGLE_LEG_STANCE:
            legs = f"{self.side.value} leg" if self.side else "each leg"
            return f"single-leg stance, {self.hold_s:.0f} s on {legs}"
        on = f" on the {self.side.value} leg" if self.side else ""
        return f"{self.reps} × {self.test.label}{on}"


@dataclass
class _Base:
    hip_y: float
    leg_px: float
    ankle_dy: float  # left ankle y − right ankle y when standing


def _hip_y(img: np.ndarray) -> float:
    return float((img[L.LEFT_HIP, 1] + img[L.RIGHT_HIP, 1]) / 2)


def _leg_px(img: np.ndarray) -> float:
    return float(np.mean([np.hypot(*(img[L.LEFT_HIP, :2] - img[L.LEFT_ANKLE, :2])),
                          np.hypot(*(img[L.RIGHT_HIP, :2] - img[L.RIGHT_ANKLE, :2]))]))


def _lifted(img: np.ndarray, base: _Base, stance: Side, threshold: float) -> bool:
    """The other foot is clearly off the floor: its ankle is ``threshold`` leg lengths above the
    stance ankle, relative to standing (image y down)."""
    dy = float(img[L.LEFT_ANKLE, 1] - img[L.RIGHT_ANKLE, 1]) - base.ankle_dy  # < 0: left ankle higher
    lift_left = -dy / base.leg_px
    return (lift_left if stance is Side.RIGHT else -lift_left) > threshold


class Protocol:
    """Setup → countdown → timed test → done, driven by sample times (not the wall clock).

    Feed it every sample (:meth:`feed`), in order. Recording starts with the countdown (the quiet
    standing before the test is the neutral baseline) and ends when the test is done. Rep counting and
    foot-lift detection here only pace the protocol; the numbers come from
    :func:`chainscan.pipeline.screen_pose` on :meth:`to_pose_sequence`.
    """

    #: rep counting: hip drop ÷ leg length that counts as "down", and back "up" (hysteresis)
    DOWN, UP = 0.08, 0.04
    LIFT = 0.10           # foot lift (leg lengths) that counts as standing on one leg
    SETTLE_S = 1.0        # standing recorded after the last rep / hold
    LOST_S = 2.0          # nobody found this long during the countdown → back to setup
    REST_S = 3.0          # feet down between the two legs of the stance test

    def __init__(self, spec: LiveTest, setup: SetupCheck | None = None, *, countdown_s: float = 3.0,
                 setup_hold_s: float = 0.5, max_record_s: float = 300.0) -> None:
        self.spec = spec
        self.setup = setup or SetupCheck()
        self.countdown_s = countdown_s
        self.setup_hold_s = setup_hold_s
        self.max_record_s = max_record_s
        self.phase = Phase.SETUP
        self.instructions: tuple[str, ...] = ("Waiting for the camera…",)
        self.reps = 0
        self.side_index = 0
        self.hold_elapsed = 0.0       # on the current side, since the foot first came up
        self.finished_reason = ""
        self._window: deque[LiveSample] = deque()
        self._recorded: list[LiveSample] = []
        self._t = 0.0
        self._phase_t0 = 0.0
        self._setup_ok_since: float | None = None
        self._base: _Base | None = None
        self._down = False
        self._last_rep_t = -math.inf
        self._lift_t0: float | None = None
        self._side_done_t: float | None = None
        self._last_seen = -math.inf

    # -- state
    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def recording(self) -> bool:
        return self.phase in (Phase.COUNTDOWN, Phase.TEST)

    @property
    def countdown_left(self) -> float:
        return max(0.0, self.countdown_s - (self._t - self._phase_t0)) if self.phase is Phase.COUNTDOWN else 0.0

    @property
    def elapsed(self) -> float:
        """Seconds in the current phase."""
        return self._t - self._phase_t0

    @property
    def stance_side(self) -> Side | None:
        sides = self.spec.sides
        return sides[min(self.side_index, len(sides) - 1)] if sides else None

    @property
    def progress(self) -> float:
        """0–1 through the timed test (1 when done)."""
        if self.phase is Phase.DONE:
            return 1.0
        if self.phase is not Phase.TEST:
            return 0.0
        if self.spec.test is TestType.SINGLE_LEG_STANCE:
            n = len(self.spec.sides)
            return min(1.0, (self.side_index + min(self.hold_elapsed / self.spec.hold_s, 1.0)) / n)
        return min(1.0, self.reps / self.spec.reps)

    def banner(self) -> tuple[str, ...]:
        """Short lines for the video overlay."""
        if self.phase is Phase.SETUP:
            return ("Setup",) + self.instructions[:1]
        if self.phase is Phase.COUNTDOWN:
            return (f"Get ready: {math.ceil(self.countdown_left)}", "stand still, facing the camera")
        if self.phase is Phase.TEST:
            if self.spec.test is TestType.SINGLE_LEG_STANCE:
                return (f"{self.stance_side.value.capitalize()} leg: {self.hold_elapsed:.0f} / "  # type: ignore[union-attr]
                        f"{self.spec.hold_s:.0f} s",) + self.instructions[:1]
            return (f"Rep {self.reps} of {self.spec.reps}",) + self.instructions[:1]
        return ("Done", "analysing…")

    # -- feeding
    def feed_many(self, samples: Sequence[LiveSample]) -> None:
        for s in samples:
            self.feed(s)

    def feed(self, s: LiveSample) -> None:
        if self.phase is Phase.DONE:
            return
        self._t = s.t
        if s.frame is not None:
            self._last_seen = s.t
        self._window.append(s)
        while self._window and self._window[0].t < s.t - max(self.setup.window_s, 1.0):
            self._window.popleft()
        if self.recording:
            self._recorded.append(s)
        if self.phase is Phase.SETUP:
            self._feed_setup(s)
        elif self.phase is Phase.COUNTDOWN:
            self._feed_countdown(s)
        elif self.phase is Phase.TEST:
            self._feed_test(s)

    def _enter(self, phase: Phase, t: float) -> None:
        self.phase = phase
        self._phase_t0 = t

    def _feed_setup(self, s: LiveSample) -> None:
        status = self.setup.check(list(self._window))
        self.instructions = status.instructions
        if not status.passed:
            self._setup_ok_since = None
            return
        if self._setup_ok_since is None:
            self._setup_ok_since = s.t
        if s.t - self._setup_ok_since >= self.setup_hold_s:
            self._enter(Phase.COUNTDOWN, s.t)
            self._recorded = [s]
            self.instructions = ("Stand still, facing the camera, arms relaxed",)

    def _feed_countdown(self, s: LiveSample) -> None:
        if s.t - self._last_seen > self.LOST_S:
            self._back_to_setup()
            return
        if s.t - self._phase_t0 >= self.countdown_s:
            self._base = self._baseline(self._recorded)
            if self._base is None:
                self._back_to_setup()
                return
            self._enter(Phase.TEST, s.t)
            self.instructions = (self._test_instruction(),)

    def _back_to_setup(self) -> None:
        self._enter(Phase.SETUP, self._t)
        self._recorded = []
        self._setup_ok_since = None
        self.instructions = (STEP_INTO_VIEW,)

    @staticmethod
    def _baseline(samples: Sequence[LiveSample]) -> _Base | None:
        imgs = [s.frame.image for s in samples if s.frame is not None]
        if not imgs:
            return None
        a = np.stack(imgs)
        hip = float(np.nanmedian((a[:, L.LEFT_HIP, 1] + a[:, L.RIGHT_HIP, 1]) / 2))
        legs = [_leg_px(i) for i in imgs]
        leg = float(np.nanmedian(legs))
        dy = float(np.nanmedian(a[:, L.LEFT_ANKLE, 1] - a[:, L.RIGHT_ANKLE, 1]))
        if not (np.isfinite(hip) and np.isfinite(leg) and leg > 0):
            return None
        return _Base(hip, leg, dy if np.isfinite(dy) else 0.0)

    def _test_instruction(self) -> str:
        spec, side = self.spec, self.stance_side
        if spec.test is TestType.DOUBLE_LEG_SQUAT:
            return f"Squat down and up, {spec.reps} times, at an even pace"
        assert side is not None
        if spec.test is TestType.SINGLE_LEG_SQUAT:
            return (f"Lift your {side.other.value} foot and squat on your {side.value} leg, "
                    f"{spec.reps} times")
        return f"Lift your {side.other.value} foot and stand on your {side.value} leg"

    def _feed_test(self, s: LiveSample) -> None:
        assert self._base is not None
        if s.t - self._phase_t0 > self.spec.time_limit_s or (self._recorded and s.t - self._recorded[0].t
                                                             > self.max_record_s):
            self.finish("time limit reached")
            return
        img = s.frame.image if s.frame is not None else None
        if self.spec.test is TestType.SINGLE_LEG_STANCE:
            self._feed_stance(s, img)
        else:
            self._feed_squat(s, img)

    def _feed_squat(self, s: LiveSample, img: np.ndarray | None) -> None:
        assert self._base is not None
        if self.reps >= self.spec.reps:
            if self._side_done_t is not None and s.t - self._side_done_t >= self.SETTLE_S:
                self.finish("all reps done")
            return
        if img is None:
            return
        depth = (_hip_y(img) - self._base.hip_y) / self._base.leg_px
        if not np.isfinite(depth):
            return
        if not self._down and depth > self.DOWN:
            self._down = True
        elif self._down and depth < self.UP:
            self._down = False
            if s.t - self._last_rep_t >= 0.5:
                self.reps += 1
                self._last_rep_t = s.t
                if self.reps >= self.spec.reps:
                    self._side_done_t = s.t
                    self.instructions = ("Well done: stand still, facing the camera",)

    def _feed_stance(self, s: LiveSample, img: np.ndarray | None) -> None:
        assert self._base is not None
        side = self.stance_side
        assert side is not None
        if self._side_done_t is not None:  # this side's hold is over: feet down, then rest or finish
            waited = s.t - self._side_done_t
            last = self.side_index >= len(self.spec.sides) - 1
            if last and waited >= self.SETTLE_S:
                self.finish("hold done")
            elif not last and waited >= self.REST_S:
                self.side_index += 1
                self.hold_elapsed = 0.0
                self._lift_t0 = None
                self._side_done_t = None
                self.instructions = (self._test_instruction(),)
            return
        if self._lift_t0 is None:
            if img is not None and _lifted(img, self._base, side, self.LIFT):
                self._lift_t0 = s.t
                self.instructions = (f"Hold: stand on your {side.value} leg",)
            return
        self.hold_elapsed = s.t - self._lift_t0
        if self.hold_elapsed >= self.spec.hold_s:
            self.hold_elapsed = self.spec.hold_s
            self._side_done_t = s.t
            last = self.side_index >= len(self.spec.sides) - 1
            self.instructions = ("Put your foot down and stand still" if last else
                                 f"Put your foot down: the {side.other.value} leg is next",)

    def finish(self, reason: str = "stopped") -> None:
        """End the test now (the recording so far is kept)."""
        if self.phase is Phase.DONE:
            return
        self.finished_reason = reason
        self._enter(Phase.DONE, self._t)
        self.instructions = ("Done",)

    # -- output
    @property
    def n_recorded(self) -> int:
        return len(self._recorded)

    @property
    def recorded(self) -> Sequence[LiveSample]:
        """The samples recorded so far (countdown + test), oldest first; emptied when it goes back to setup."""
        return self._recorded

    def to_pose_sequence(self, *, model: str = "unknown") -> PoseSequence:
        """The recorded samples (countdown + test) as a PoseSequence for ``screen_pose``."""
        if not self._recorded:
            raise ValueError("Protocol.to_pose_sequence: nothing was recorded yet")
        return samples_to_pose(self._recorded, model=model)

    def analysis_kwargs(self) -> dict[str, Any]:
        """``test`` and ``side`` to pass to ``screen_pose`` (side None for stance on both legs)."""
        return {"test": self.spec.test, "side": self.spec.side}


# ---------------------------------------------------------------------------------------------------
# WebRTC configuration


def ice_servers_from_env(env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """ICE servers from $CHAINSCAN_ICE_SERVERS (JSON: a list of RTCIceServer objects, or an object with
    ``iceServers``); none by default, which is all a browser on the same machine needs."""
    import os

    raw = (env if env is not None else os.environ).get(ICE_ENV, "").strip()
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{ICE_ENV} is not valid JSON ({e.msg} at character {e.pos}); set it to a list such as "
                          '[{"urls": ["stun:stun.example.org:3478"]}].') from None
    if isinstance(data, dict):
        data = data.get("iceServers")
    if not isinstance(data, list) or not all(isinstance(x, dict) and "urls" in x for x in data):
        raise ConfigError(f'{ICE_ENV} must be a JSON list of objects with "urls" (and "username"/"credential" '
                          "for TURN).")
    return data


__all__ = ["LiveRecorder", "LiveSession", "LiveSample", "LiveStats", "LiveTest", "Phase", "Protocol", "SetupCheck",
           "SetupStatus", "draw_live_overlay", "ice_servers_from_env", "knee_fppa", "samples_to_pose", "unmirror"]
