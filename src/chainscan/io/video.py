"""Reading video frames: upright (rotation metadata honoured), RGB, with container timestamps.

Frames are streamed one at a time, so memory does not grow with video length.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import VideoReadError
from ..types import VideoMeta

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".webm", ".mkv")


@dataclass(frozen=True)
class Frame:
    """One decoded frame: ``index`` in the source, ``time_s`` from the container, ``rgb`` (H, W, 3) uint8."""

    index: int
    time_s: float
    rgb: np.ndarray


def _cv2():
    # FFmpeg's own decoder chatter (e.g. on damaged files) is not for users; errors are raised instead
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2  # lazy: importing chainscan must stay cheap

    return cv2


def check_video_path(path: str | os.PathLike) -> Path:
    """Raise VideoReadError unless ``path`` is an existing, non-empty file with a video extension
    that is not a still image in disguise."""
    p = Path(path)
    if not p.exists():
        raise VideoReadError(f"Video not found: {p}; check the path and file name.")
    if p.is_dir():
        raise VideoReadError(f"{p} is a folder, not a video file; give the path of one video.")
    if p.suffix.lower() not in VIDEO_EXTENSIONS:
        raise VideoReadError(
            f"{p.name} is not a supported video ({p.suffix or 'no extension'}); "
            f"use one of {', '.join(VIDEO_EXTENSIONS)}.")
    if p.stat().st_size == 0:
        raise VideoReadError(f"{p.name} is empty (0 bytes); record or copy the video again.")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError as e:
        raise VideoReadError(f"{p.name} cannot be read ({e.strerror}); check its permissions.") from None
    kind = _still_image_kind(head)
    if kind:  # FFmpeg would open a still image as a one-frame "video"
        raise VideoReadError(
            f"{p.name} is a {kind} image, not a video; film the test as a video and use that file.")
    return p


def _still_image_kind(head: bytes) -> str | None:
    """Name of the still-image format whose signature starts ``head``, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":  # BMP: reserved fields are zero
        return "BMP"
    return None


class VideoReader:
    """Open a video for streaming. Use as a context manager.

    >>> with VideoReader("clip.mp4") as v:          # doctest: +SKIP
    ...     for frame in v.frames(max_fps=30):
    ...         ...
    """

    def __init__(self, path: str | os.PathLike, *, decode_threads: int | None = None) -> None:
        """``decode_threads``: FFmpeg decoder threads (default: FFmpeg's choice, one per core); the parallel
        extraction uses 1 per process, which spends the least CPU per frame."""
        self.path = check_video_path(path)
        cv2 = _cv2()
        params = [cv2.CAP_PROP_N_THREADS, int(decode_threads)] if decode_threads else []
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise VideoReadError(
                f"{self.path.name} could not be opened as a video (damaged, truncated or not a video file); "
                "re-export it as MP4 and try again.")
        # Apply the container's rotation so that a portrait phone clip is analysed upright.
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        self._cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0)) % 360
        ok, first = cap.read()
        if not ok or first is None:
            fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
            codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ")
            cap.release()
            if declared > 0 and codec and codec.isprintable():
                raise VideoReadError(
                    f"{self.path.name} holds {declared} frames in a format this build cannot decode "
                    f"(codec {codec}); re-export it as H.264 MP4 and try again.")
            raise VideoReadError(
                f"{self.path.name} contains no readable video frames (empty, truncated or damaged); "
                "record or export the clip again.")
        h, w = first.shape[:2]
        t0 = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 30.0
        self._first: tuple[np.ndarray, float] | None = (first, t0)
        self.meta = VideoMeta(
            source=self.path.name, width=int(w), height=int(h), fps=fps,
            n_frames_declared=max(declared, 0), rotation_deg=rotation if rotation in (0, 90, 180, 270) else 0,
            duration_s=max(declared, 0) / fps if declared > 0 else 0.0)
        self.frames_read = 0
        self._started = False

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def frames(self, max_fps: float | None = None, *, start: int = 0, stop: int | None = None,
               keep: np.ndarray | None = None) -> Iterator[Frame]:
        """Yield upright RGB frames with container timestamps (variable-frame-rate safe).

        ``max_fps``: keep at most this many frames per second of video (frames in between are
        grabbed but not decoded to pixels); see :class:`FrameSelector`. ``start``/``stop``: read only
        source frames ``start`` ≤ index < ``stop`` (``start`` > 0 seeks; used by the parallel
        extraction, which checks the timestamps it gets against the container's index). ``keep``:
        the sorted source indices to yield instead of ``max_fps`` selection. Raises VideoReadError
        if the stream ends well before the frame count the container declares (a truncated file).
        """
        if self._cap is None:
            raise VideoReadError(f"{self.path.name} is closed; open it again.")
        if self._started:
            raise VideoReadError(f"{self.path.name} has already been read; open it again to read it twice.")
        self._started = True
        cv2 = _cv2()
        cap = self._cap
        select = FrameSelector(max_fps, self.meta.fps)
        wanted = None if keep is None else set(np.asarray(keep, np.int64).tolist())
        index = 0
        if start > 0:
            self._first = None
            if not cap.set(cv2.CAP_PROP_POS_FRAMES, int(start)):
                raise VideoReadError(f"{self.path.name} cannot be searched to frame {start}; read it from the start.")
            index = int(start)
        while stop is None or index < stop:
            if self._first is not None:
                bgr, t = self._first
                self._first = None
                ok = True
            else:
                ok = cap.grab()
                if not ok:
                    break
                t = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                bgr = None
            t = select.time(t, index)
            keep_it = (index in wanted) if wanted is not None else select.keep(t)
            if keep_it:
                if bgr is None:
                    ok, bgr = cap.retrieve()
                    if not ok or bgr is None:
                        break
                yield Frame(index=index, time_s=t, rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
            self.frames_read = index
        declared = self.meta.n_frames_declared
        if stop is None and declared > 0 and index < declared - max(3, int(0.1 * declared)):
            raise VideoReadError(
                f"{self.path.name} stops after {index} of its {declared} frames: the file looks truncated "
                "or damaged; copy or export it again.")


class FrameSelector:
    """Which frames ``--max-fps`` keeps, from their timestamps alone (so a plan made from the container's
    index and a sequential read keep the very same frames).

    A frame is kept when it is due: at least ``1 / max_fps`` after the previous due time, which then
    advances by one interval (or restarts at the frame after a pause). Timestamps that are missing or do
    not increase are replaced by the previous one plus the nominal frame interval.
    """

    def __init__(self, max_fps: float | None, nominal_fps: float) -> None:
        self.min_dt = (1.0 / max_fps) if max_fps else 0.0
        self.nominal_dt = 1.0 / nominal_fps
        self.next_due = -np.inf
        self.last_t = -np.inf

    def time(self, t: float, index: int) -> float:
        """The frame's timestamp, repaired if it is missing or does not increase."""
        if not np.isfinite(t) or t <= self.last_t:
            t = (self.last_t + self.nominal_dt) if np.isfinite(self.last_t) else index * self.nominal_dt
        self.last_t = t
        return t

    def keep(self, t: float) -> bool:
        if not self.min_dt:
            return True
        if t + 1e-6 < self.next_due:
            return False
        nd = self.next_due + self.min_dt
        self.next_due = nd if nd > t else t + self.min_dt
        return True


def frame_times(path: str | os.PathLike, nominal_fps: float) -> np.ndarray | None:
    """Presentation times (s, from the stream start, as OpenCV reports them) of every frame, read from the
    container's packet index without decoding (PyAV), repaired as :class:`FrameSelector` does. None
    when the index cannot be read or a packet has no timestamp (then only a sequential read is safe)."""
    try:
        import av
    except ImportError:  # pragma: no cover - a core dependency
        return None
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            if stream.time_base is None:
                return None
            tb = float(stream.time_base)
            start = stream.start_time or 0
            pts = []
            for pkt in c.demux(stream):
                if pkt.size == 0:   # the flushing packet at the end
                    continue
                if pkt.pts is None:
                    return None
                pts.append(pkt.pts)
    except Exception:  # noqa: BLE001 - any container problem: fall back to the sequential read
        return None
    if not pts:
        return None
    raw = (np.sort(np.asarray(pts, np.int64)) - start) * tb
    sel = FrameSelector(None, nominal_fps)
    return np.array([sel.time(float(t), i) for i, t in enumerate(raw)], np.float64)


def read_frames(path: str | os.PathLike, indices: set[int] | list[int]) -> dict[int, Frame]:
    """The source frames ``indices`` of a video, found by seeking (a few frames of a long 1080p clip cost
    a fraction of a second instead of decoding everything before them). Each seek lands on the key frame
    before the wanted one and decodes forward with all cores (PyAV, :func:`decode_chunk`); every frame got
    is checked against the container's timestamp index and the upright size. When that index cannot be
    read or a frame does not match, the video is read from the start instead. Frames past the end are
    simply absent from the result."""
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return {}
    with VideoReader(path) as reader:
        meta = reader.meta
    times = frame_times(path, meta.fps)
    out: dict[int, Frame] = {}
    if times is not None:
        try:
            for i in wanted:
                if i >= len(times):
                    continue
                got = next(iter(decode_chunk(path, start=i, stop=i + 1, keep=np.array([i]),
                                             start_time_s=float(times[i]), rotation_deg=meta.rotation_deg,
                                             reduce=1, threads=0)), None)
                if (got is None or abs(got.time_s - times[i]) > 1e-3
                        or got.rgb.shape != (meta.height, meta.width, 3)):
                    break
                out[i] = got
            else:
                return out
        except ChunkDecodeError:
            pass
    out = {}
    with VideoReader(path) as reader:  # sequential fallback
        for fr in reader.frames(stop=wanted[-1] + 1):
            if fr.index in wanted:
                out[fr.index] = fr
    return out


def probe(path: str | os.PathLike) -> VideoMeta:
    """Metadata of a video without decoding it all (raises VideoReadError if it is not readable)."""
    with VideoReader(path) as v:
        return v.meta


# --------------------------------------------------------------------------------------------------
# the parallel extraction's decoder: PyAV, frames reduced for the pose model

#: frames handed to the pose model are reduced by a power of two while their short side stays ≥ this
#: many pixels. The model sees a 256×256 crop of the person (the detector a 224×224 view of the frame),
#: so a 1080×1920 phone frame halved to 540×960 loses nothing it uses, and converting the smaller
#: frame to RGB and handing it over costs less (see docs/performance.md).
MODEL_MIN_SIDE = 540


def model_reduction(width: int, height: int) -> int:
    """1, 2, 4, …: how much :func:`decode_chunk` shrinks frames of this upright size for the pose model."""
    f = 1
    while min(width, height) // (2 * f) >= MODEL_MIN_SIDE:
        f *= 2
    return f


class ChunkDecodeError(Exception):
    """PyAV could not decode the chunk as planned; the caller falls back to :class:`VideoReader`."""


def decode_chunk(path: str | os.PathLike, *, start: int = 0, stop: int | None = None, keep: np.ndarray | None = None,
                 start_time_s: float = 0.0, rotation_deg: int = 0, reduce: int = 1,
                 size: tuple[int, int] | None = None, threads: int = 1) -> Iterator[Frame]:
    """Yield source frames ``keep`` (sorted indices, ``start`` ≤ index < ``stop``; None: every frame) as
    upright RGB reduced ``reduce`` times each way (or scaled to ``size`` = upright (width, height)),
    decoding with PyAV in ``threads`` threads (0: FFmpeg's choice).

    ``start`` is a frame whose timestamp, ``start_time_s``, comes from :func:`frame_times`: the decoder
    seeks to the key frame before it and counts frames from there. Frame ``index`` and ``time_s`` follow
    :class:`VideoReader`'s conventions (the caller checks the times against its plan). 8-bit 4:2:0
    frames are scaled in YUV and converted once at the small size (BT.601, limited range, as OpenCV's
    reader does); any other pixel format goes through FFmpeg's own scaler. Raises
    :class:`ChunkDecodeError` on anything unexpected.
    """
    import av

    cv2 = _cv2()
    wanted = None if keep is None else set(np.asarray(keep, np.int64).tolist())
    rot = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(rotation_deg)
    try:
        container = av.open(str(path))
    except Exception as e:  # noqa: BLE001 - any container problem
        raise ChunkDecodeError(f"open: {e}") from None
    try:
        stream = container.streams.video[0]
        if threads == 1:
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
        else:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
        tb = float(stream.time_base)
        t_base = stream.start_time or 0
        if start > 0:
            container.seek(t_base + int(round(start_time_s / tb)), stream=stream, backward=True, any_frame=False)
        index = None
        buf = None
        for frame in container.decode(stream):
            if frame.pts is None:
                raise ChunkDecodeError("a frame without a timestamp")
            t = (frame.pts - t_base) * tb
            if index is None:
                if t < start_time_s - 5e-4:
                    continue  # before the chunk: decoded only because the seek lands on a key frame
                index = start
            if stop is not None and index >= stop:
                break
            if wanted is None or index in wanted:
                if size is None:
                    w, h = frame.width // reduce, frame.height // reduce
                else:  # the stored picture is turned upright after scaling
                    w, h = (size[1], size[0]) if rotation_deg in (90, 270) else size
                rgb, buf = _to_rgb(frame, w, h, buf, cv2)
                if rot is not None:
                    rgb = cv2.rotate(rgb, rot)
                yield Frame(index=index, time_s=float(t), rgb=rgb)
            index += 1
    except ChunkDecodeError:
        raise
    except Exception as e:  # noqa: BLE001 - av.error.* and friends: the sequential reader takes over
        raise ChunkDecodeError(f"{type(e).__name__}: {e}") from None
    finally:
        container.close()


def _to_rgb(frame, w: int, h: int, buf: np.ndarray | None, cv2) -> tuple[np.ndarray, np.ndarray | None]:
    """A PyAV frame → RGB (h, w, 3) uint8; ``buf`` is a reusable I420 buffer."""
    W, H = frame.width, frame.height
    if frame.format.name != "yuv420p" or w % 2 or h % 4 or W % 2 or H % 4:
        return frame.to_ndarray(format="rgb24", width=w, height=h), buf
    if (w, h) == (W, H):
        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420), buf
    p = frame.planes
    y = np.frombuffer(p[0], np.uint8).reshape(H, p[0].line_size)[:, :W]
    u = np.frombuffer(p[1], np.uint8).reshape(H // 2, p[1].line_size)[:, :W // 2]
    v = np.frombuffer(p[2], np.uint8).reshape(H // 2, p[2].line_size)[:, :W // 2]
    if buf is None or buf.shape != (h * 3 // 2, w):
        buf = np.empty((h * 3 // 2, w), np.uint8)
    # pixel averaging for whole-number reductions (its fast path); bilinear otherwise (area averaging at
    # 2/3 scale costs ~3 ms a plane at 1080p)
    how = cv2.INTER_AREA if (W % w == 0 and H % h == 0) else cv2.INTER_LINEAR
    cv2.resize(y, (w, h), dst=buf[:h], interpolation=how)
    q = h // 4
    buf[h:h + q] = cv2.resize(u, (w // 2, h // 2), interpolation=how).reshape(q, w)
    buf[h + q:] = cv2.resize(v, (w // 2, h // 2), interpolation=how).reshape(q, w)
    return cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_I420), buf
