"""Video → PoseSequence: run a pose estimator over a video, frame by frame (streaming), in one process
or in parallel chunks (one process per core, see :func:`extract_pose`)."""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import ChainscanError, InsufficientData, VideoReadError
from .io.pose import PoseEstimator, PoseFrame, make_estimator, quiet_native_logs
from .io.video import ChunkDecodeError, FrameSelector, VideoReader, decode_chunk, frame_times, model_reduction, probe
from .landmarks import N_LANDMARKS
from .types import PoseSequence, VideoMeta

#: progress callback: (frames done, frames expected or 0 if unknown)
Progress = Callable[[int, int], None]

#: how many frames are re-examined for other people in view
PEOPLE_CHECK_FRAMES = 5

#: the default analysis rate: 5 × the 6 Hz low-pass cut-off, half the work of a 60 fps phone clip
DEFAULT_MAX_FPS = 30.0
#: a chunk starts this long before its first own frame; the tracker settles in these frames, which are dropped
CHUNK_OVERLAP_S = 0.3
#: below this many analysed frames per worker, starting processes costs more than it saves
MIN_FRAMES_PER_WORKER = 150


def frame_brightness(rgb: np.ndarray) -> float:
    """Cheap brightness of a frame: mean luma (0–255, Rec. 601 weights) of every 8th pixel each way."""
    small = rgb[::8, ::8].astype(np.float32)
    return float(small[..., 0].mean() * 0.299 + small[..., 1].mean() * 0.587 + small[..., 2].mean() * 0.114)


def default_workers() -> int:
    """Worker processes for pose extraction: one per available core (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def extract_pose(video: str | os.PathLike, estimator: PoseEstimator | None = None, *,
                 max_fps: float | None = None, progress: Progress | None = None, check_other_people: bool = True,
                 workers: int = 1, model_path: str | os.PathLike | None = None) -> PoseSequence:
    """Run a pose model over every kept frame of ``video`` (``max_fps``: see VideoReader.frames).

    With ``estimator`` (or ``workers`` = 1, or a short clip) the frames run through one model in this
    process. Otherwise the clip is cut into ``workers`` chunks of equal frame count that run in parallel
    processes, each with its own model (``model_path``, default the bundled one): each chunk seeks to
    :data:`CHUNK_OVERLAP_S` before its first frame so the tracker has settled by then, and those overlap
    frames are dropped. The frames kept are exactly those of a sequential read (planned from the
    container's timestamp index); if the index cannot be read or a seek lands elsewhere, the sequential
    path runs instead.
    """
    if max_fps is not None and max_fps <= 0:
        raise ValueError("max_fps must be > 0")
    if estimator is None and workers > 1:
        # the workers start (Python, OpenCV, PyAV, MediaPipe) while the clip is being planned
        procs = [_spawn_worker() for _ in range(workers)]
        try:
            plan = _plan_chunks(video, max_fps, workers, check_other_people)
        except BaseException:
            _kill(procs)
            raise
        _kill(procs[len(plan.chunks) if plan is not None else 0:])
        if plan is not None:
            try:
                return _extract_parallel(video, plan, model_path, progress, procs[:len(plan.chunks)])
            except _ChunkMismatch:
                pass  # the container's index and the decoder disagree: read it in one go
    own = estimator is None
    est = estimator or make_estimator(model_path)
    try:
        return _extract_sequential(video, est, max_fps=max_fps, progress=progress,
                                   check_other_people=check_other_people)
    finally:
        if own:
            est.close()


def _extract_sequential(video: str | os.PathLike, estimator: PoseEstimator, *, max_fps: float | None = None,
                        progress: Progress | None = None, check_other_people: bool = True) -> PoseSequence:
    """Run ``estimator`` over every kept frame of ``video``.

    Landmarks are pixels of the upright frame. Frames where nobody is found are NaN rows.
    Memory does not grow with video length beyond the landmarks themselves (≈ 1 KB per frame): each
    frame is released once the model has seen it (the several-people check runs on the frame at hand).
    Raises VideoReadError for unreadable input and InsufficientData when nobody is ever found.
    """
    coords: list[np.ndarray] = []
    world: list[np.ndarray] = []
    times: list[float] = []
    indices: list[int] = []
    luma: list[float] = []
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
            luma.append(frame_brightness(frame.rgb))
            if k in check_at and pf is not None:
                people_checks.append(_other_person_present(estimator, frame.rgb, pf))
            if progress is not None:
                progress(k + 1, expected)
    if not coords:
        raise InsufficientData(f"{meta.source} has no frames to analyse; record a longer clip.")
    return _sequence(np.stack(coords), np.stack(world), np.asarray(times, np.float64),
                     np.asarray(indices, np.int64), meta, estimator.name, people_checks, luma)


def _sequence(arr: np.ndarray, world: np.ndarray, times: np.ndarray, indices: np.ndarray, meta: VideoMeta,
              model: str, people_checks: list[bool], luma: list[float] | np.ndarray) -> PoseSequence:
    if not np.isfinite(arr[:, :, 0]).any():
        from .config import QualityConfig

        level = float(np.median(luma)) if len(luma) else float("nan")
        if level < QualityConfig().min_brightness:
            raise InsufficientData(
                f"Nobody was found in {meta.source}, which is too dark (brightness {level:.0f} of 255); add light "
                "(switch the lights on or face a window) and film the whole body, facing the camera.")
        raise InsufficientData(
            f"Nobody was found in {meta.source}; film the whole body, facing the camera, in good light.")
    return PoseSequence(
        coords=np.ascontiguousarray(arr[:, :, :3]), visibility=np.ascontiguousarray(arr[:, :, 3]),
        world=world, timestamps=times, frame_indices=indices, meta=meta, model=model,
        extra={"other_people_checks": len(people_checks),
               "other_people_found": int(sum(people_checks)),
               # brightness (mean luma 0–255) of each analysed frame, for the lighting gate
               "luma": [round(float(v), 1) for v in luma]})


# --------------------------------------------------------------------------------------------------
# parallel chunks


class _ChunkMismatch(Exception):
    """A worker's frames do not match the plan (seek or timestamps differ): use the sequential path."""


@dataclass(frozen=True)
class _Chunk:
    number: int
    start: int            # first source frame read (a seek target; includes the overlap)
    own_from: int         # first source frame whose landmarks this chunk contributes
    stop: int             # source frames < stop
    keep: np.ndarray      # source indices analysed (overlap included)
    times: np.ndarray     # their planned timestamps
    checks: tuple[int, ...]  # source indices to look for other people in
    width: int            # upright frame size (pixels the landmarks are given in)
    height: int
    rotation: int         # clockwise degrees to turn a decoded frame upright
    reduce: int           # the pose model sees frames shrunk this many times each way


@dataclass(frozen=True)
class _Plan:
    meta: VideoMeta
    chunks: tuple[_Chunk, ...]
    n_kept: int


def _plan_chunks(video: str | os.PathLike, max_fps: float | None, workers: int,
                 check_other_people: bool) -> _Plan | None:
    """Split the kept frames into ``workers`` equal chunks, or None when one process is the better choice."""
    meta = probe(video)
    times = frame_times(video, meta.fps)
    if times is None or len(times) < 2:
        return None
    sel = FrameSelector(max_fps, meta.fps)
    kept = np.flatnonzero([sel.keep(float(t)) for t in times])
    n = len(kept)
    workers = min(workers, n // MIN_FRAMES_PER_WORKER)
    if workers < 2:
        return None
    checks = set(kept[np.linspace(0, n - 1, PEOPLE_CHECK_FRAMES).astype(int)].tolist()) if check_other_people else set()
    # equal work per chunk: every chunk after the first also runs its overlap (≈ CHUNK_OVERLAP_S of frames)
    extra = min(int(round(CHUNK_OVERLAP_S * n / max(times[-1] - times[0], 1e-6))), n // (2 * workers))
    share = (n + extra * (workers - 1)) / workers
    bounds = np.round(np.concatenate([[0], share + (share - extra) * np.arange(workers)])).astype(int)
    bounds[-1] = n
    chunks = []
    for k in range(workers):
        a, b = int(bounds[k]), int(bounds[k + 1])
        own_from = int(kept[a])
        first = own_from
        if k > 0:  # start earlier so the tracker has settled by the chunk's own first frame
            t0 = times[own_from] - CHUNK_OVERLAP_S
            first = int(kept[max(0, int(np.searchsorted(times[kept], t0)))])
        stop = int(kept[b - 1]) + 1
        keep = kept[(kept >= first) & (kept < stop)]
        own_checks = tuple(sorted(i for i in checks if own_from <= i < stop))
        chunks.append(_Chunk(k, first, own_from, stop, keep, times[keep], own_checks, meta.width, meta.height,
                             meta.rotation_deg, model_reduction(meta.width, meta.height)))
    return _Plan(meta, tuple(chunks), n)


def _run_chunk(video: str, chunk: _Chunk, model_path: str | None,
               report: Callable[[int], None] | None = None) -> dict:
    """In a worker process: landmarks of ``chunk``'s kept frames (checked against the planned timestamps).

    Frames come from :func:`decode_chunk` (PyAV, one thread), shrunk ``chunk.reduce`` times for the
    model; landmarks are scaled back to pixels of the full upright frame. The brightness and the
    other-people check use the same shrunk frame."""
    n = len(chunk.keep)
    img = np.full((n, N_LANDMARKS, 4), np.nan, np.float32)
    world = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    luma = np.full(n, np.nan)
    checks: list[bool] = []
    small_w, small_h = chunk.width // chunk.reduce, chunk.height // chunk.reduce  # what the model is given
    frames = decode_chunk(video, start=chunk.start, stop=chunk.stop, keep=chunk.keep,
                          start_time_s=float(chunk.times[0]), rotation_deg=chunk.rotation, reduce=chunk.reduce)
    with quiet_native_logs():
        est = make_estimator(model_path)
        try:
            k = 0
            try:
                for frame in frames:
                    if k >= n or frame.index != chunk.keep[k] or abs(frame.time_s - chunk.times[k]) > 1e-3:
                        return {"mismatch": f"chunk {chunk.number}: frame {frame.index} at {frame.time_s:.4f} s"}
                    h, w = frame.rgb.shape[:2]
                    if (w, h) != (small_w, small_h):
                        return {"mismatch": f"chunk {chunk.number}: decoded {w}x{h} for {chunk.width}x{chunk.height}"}
                    pf = est.estimate(frame.rgb, frame.time_s)
                    luma[k] = frame_brightness(frame.rgb)
                    if pf is not None:
                        if frame.index in chunk.checks:
                            checks.append(_other_person_present(est, frame.rgb, pf))
                        img[k] = pf.image
                        world[k] = pf.world
                    k += 1
                    if report is not None and (k % 10 == 0 or k == n):
                        report(k)
            except ChunkDecodeError as e:
                return {"mismatch": f"chunk {chunk.number}: {e}"}
            finally:
                frames.close()
            if k != n:
                return {"mismatch": f"chunk {chunk.number}: {k} of {n} frames read"}
        finally:
            est.close()
    sx = chunk.width / small_w
    img[..., 0] *= sx
    img[..., 1] *= chunk.height / small_h
    img[..., 2] *= sx  # MediaPipe's z is on the scale of x
    return {"img": img, "world": world, "checks": checks, "model": est.name, "luma": luma}


def _spawn_worker() -> subprocess.Popen:
    """A ``python -m chainscan._chunk_worker`` process, waiting for its chunk on stdin. Plain subprocesses
    rather than multiprocessing: nothing re-imports the caller's main module (a Streamlit page, a notebook
    or a script without a ``__main__`` guard would otherwise run again in every worker)."""
    return subprocess.Popen([sys.executable, "-m", "chainscan._chunk_worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _kill(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _end(p)
        _close_pipes(p)


def _end(p: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        p.kill()
    p.wait()


def _close_pipes(p: subprocess.Popen) -> None:
    for f in (p.stdin, p.stdout):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


def _extract_parallel(video: str | os.PathLike, plan: _Plan, model_path: str | os.PathLike | None,
                      progress: Progress | None, procs: list[subprocess.Popen]) -> PoseSequence:
    """One worker process per chunk (``procs``, already started by :func:`_spawn_worker`)."""
    model = str(model_path) if model_path else None
    changed = threading.Event()  # set when a worker ends, so the last one is noticed at once
    workers = [_Worker(p, str(video), c, model, changed) for p, c in zip(procs, plan.chunks)]
    own = [int(np.searchsorted(c.keep, c.own_from)) for c in plan.chunks]
    expected = plan.n_kept
    try:
        while not all(w.finished for w in workers):
            if any(w.finished and "img" not in w.result for w in workers):
                break  # a failed or mismatched chunk decides the outcome: stop the others at once
            changed.wait(0.1)
            changed.clear()
            if progress is not None:
                progress(min(expected, sum(max(0, w.done - o) for w, o in zip(workers, own))), expected)
        for w in workers:
            if not w.finished:
                continue
            r = w.result
            if "error" in r:
                raise r["error"]
            if "crash" in r:
                raise VideoReadError(f"Pose extraction of {plan.meta.source} failed in a worker process "
                                     f"({r['crash']}); try again with --workers 1.")
            if "mismatch" in r:
                raise _ChunkMismatch(r["mismatch"])
        results = [w.result for w in workers]
    finally:
        for w in workers:  # a worker whose result has arrived has nothing left to do but tear down: no wait
            w.stop()
    parts = [(r["img"][o:], r["world"][o:], c.times[o:], c.keep[o:]) for r, c, o in zip(results, plan.chunks, own)]
    checks = [x for r in results for x in r["checks"]]
    if progress is not None:
        progress(expected, expected)
    luma = np.concatenate([r["luma"][o:] for r, o in zip(results, own)])
    return _sequence(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                     np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]).astype(np.int64),
                     plan.meta, results[0]["model"], checks, luma)


class _Worker:
    """A chunk worker process and the thread that reads its progress lines and its pickled result."""

    def __init__(self, proc: subprocess.Popen, video: str, chunk: _Chunk, model: str | None,
                 ended: threading.Event | None = None) -> None:
        self.done = 0
        self._ended = ended
        self.result: dict = {}
        self.finished = False
        self.proc = proc
        self._payload = pickle.dumps((video, chunk, model))
        self._thread = threading.Thread(target=self._talk, daemon=True)
        self._thread.start()

    def _talk(self) -> None:
        try:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(self._payload)
            self.proc.stdin.close()
            out = self.proc.stdout
            while True:
                line = out.readline()
                if not line:
                    self.result = {"crash": f"the worker ended with exit code {self.proc.wait()}"}
                    break
                if line.startswith(b"P "):
                    self.done = int(line[2:])
                elif line.startswith(b"R "):
                    self.result = pickle.loads(out.read(int(line[2:])))
                    break
        except Exception as e:  # noqa: BLE001 - reported as a crash of this worker
            self.result = {"crash": f"{type(e).__name__}: {e}"}
        finally:
            self.finished = True
            if self._ended is not None:
                self._ended.set()

    def stop(self) -> None:
        _end(self.proc)
        self._thread.join(timeout=5)  # the pipes are closed only once the reading thread is done with them
        _close_pipes(self.proc)


def _skip_unused_imports() -> None:
    """Importing mediapipe also imports matplotlib.pyplot (for its 3-D plotting helper) and sounddevice
    (for audio tasks; it looks for PortAudio by running the C compiler). A chunk worker uses neither:
    empty stand-ins save ~0.4 s of CPU per worker. Only ever called in a worker process."""
    import types

    for name in ("matplotlib", "matplotlib.pyplot"):
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
    if "sounddevice" not in sys.modules:
        sys.modules["sounddevice"] = None  # type: ignore[assignment]  # import raises ImportError, as mediapipe allows


def worker_main() -> None:
    """Entry point of ``python -m chainscan._chunk_worker``: one chunk in, progress lines and a result out."""
    _skip_unused_imports()
    proto = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing a library prints may corrupt the protocol
    os.close(devnull)
    import cv2

    cv2.setNumThreads(1)  # one process per core already: OpenCV's own threads would only compete
    with contextlib.suppress(Exception):  # the slow imports, before the chunk arrives (errors come later, worded)
        import av  # noqa: F401
        import mediapipe  # noqa: F401
    video, chunk, model = pickle.load(sys.stdin.buffer)

    def report(k: int) -> None:
        proto.write(b"P %d\n" % k)
        proto.flush()

    try:
        res = _run_chunk(video, chunk, model, report)
    except ChainscanError as e:
        res = {"error": e}
    except Exception as e:  # noqa: BLE001 - reported to the parent, which says it in one sentence
        res = {"crash": f"{type(e).__name__}: {e}"}
    try:
        data = pickle.dumps(res)
    except Exception as e:  # noqa: BLE001 - an exception that cannot be pickled
        data = pickle.dumps({"crash": f"{type(res.get('error')).__name__}: {e}"})
    proto.write(b"R %d\n" % len(data))
    proto.write(data)
    proto.flush()




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
