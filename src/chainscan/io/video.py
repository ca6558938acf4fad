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

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_video_path(path)
        cv2 = _cv2()
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
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

    def frames(self, max_fps: float | None = None) -> Iterator[Frame]:
        """Yield upright RGB frames with container timestamps (variable-frame-rate safe).

        ``max_fps``: keep at most this many frames per second of video (frames in between are
        grabbed but not decoded to pixels). Raises VideoReadError if the stream ends well before
        the frame count the container declares (a truncated file).
        """
        if self._cap is None:
            raise VideoReadError(f"{self.path.name} is closed; open it again.")
        if self._started:
            raise VideoReadError(f"{self.path.name} has already been read; open it again to read it twice.")
        self._started = True
        cv2 = _cv2()
        cap = self._cap
        min_dt = (1.0 / max_fps) if max_fps else 0.0
        next_due = -np.inf
        last_t = -np.inf
        index = 0
        nominal_dt = 1.0 / self.meta.fps
        while True:
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
            if not np.isfinite(t) or t <= last_t:  # missing/duplicate pts: fall back to the nominal rate
                t = (last_t + nominal_dt) if np.isfinite(last_t) else index * nominal_dt
            last_t = t
            keep = (not min_dt) or t + 1e-6 >= next_due
            if keep:
                if bgr is None:
                    ok, bgr = cap.retrieve()
                    if not ok or bgr is None:
                        break
                if min_dt:
                    next_due = next_due + min_dt if next_due + min_dt > t else t + min_dt
                yield Frame(index=index, time_s=t, rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
            self.frames_read = index
        declared = self.meta.n_frames_declared
        if declared > 0 and index < declared - max(3, int(0.1 * declared)):
            raise VideoReadError(
                f"{self.path.name} stops after {index} of its {declared} frames: the file looks truncated "
                "or damaged; copy or export it again.")


def probe(path: str | os.PathLike) -> VideoMeta:
    """Metadata of a video without decoding it all (raises VideoReadError if it is not readable)."""
    with VideoReader(path) as v:
        return v.meta
