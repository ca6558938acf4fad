"""The annotated video: the source clip with the skeleton, knee angles, pelvis and trunk lines drawn,
colour-coded by the findings, encoded as H.264 MP4 that browsers play.

The source is re-read frame by frame (constant memory) and the analysed frames are written: every frame
when every frame was analysed, else (``--max-fps``, 30 by default) only those, at the analysed rate, each
with its own landmarks. The size is the source's, scaled down to at most ``MAX_VIDEO_SIDE`` pixels on the
long side and made even; frames where nobody was found show no skeleton.
Encoding uses the ffmpeg binary of the ``imageio-ffmpeg`` package (libx264, yuv420p,
``+faststart``): OpenCV's VideoWriter has no H.264 encoder that browsers play.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ChainscanError
from ..io.video import ChunkDecodeError, Frame, VideoReader, _cv2, decode_chunk, frame_times
from ..landmarks import SKELETON_EDGES, Side
from ..landmarks import Landmark as L
from ..result import ScreeningResult
from ..types import Finding, TestType
from . import privacy
from .draw import (
    BONE_RGB,
    MUTED_RGB,
    TEXT_RGB,
    Canvas,
    Style,
    severity_legend,
    severity_rgb,
    worst_severity,
)

#: progress callback: (frames written, frames expected or 0 if unknown)
Progress = Callable[[int, int], None]

DISCLAIMER_SHORT = "screen, not a diagnosis"
KNEE_SIGN_NOTE = "knee + = inward (valgus) · pelvis, trunk vs standing"
_KNEE_CODES = ("knee_valgus", "knee_inside_foot")
_LEG_EDGES = {side: ((L[f"{side.name}_HIP"], L[f"{side.name}_KNEE"]), (L[f"{side.name}_KNEE"], L[f"{side.name}_ANKLE"]))
              for side in Side}


def side_letter(side: Side) -> str:
    return "L" if side is Side.LEFT else "R"


@dataclass(frozen=True)
class Caption:
    """Extra text for a key frame: a title line and the lines below it."""

    title: str
    lines: tuple[tuple[str, str | None], ...]  # (text, severity: a coloured bullet, or None: plain text)


class Annotator:
    """Draws one result's overlay on frames of its video (see the module docstring for what)."""

    def __init__(self, result: ScreeningResult, width: int, height: int, *, scale: float = 1.0) -> None:
        """Draw on frames of ``width`` × ``height``: the video's size times ``scale`` (landmarks are scaled)."""
        self.result = result
        self.width, self.height = width, height
        self._xy = result.clean.xy * scale if scale != 1.0 else result.clean.xy
        self.style = Style.for_frame(width, height)
        f = result.findings
        self.knee_sev = {s: worst_severity([x.severity for x in f if (x.code in _KNEE_CODES and x.side is s)
                                            or x.code == "knees_inward"]) for s in Side}
        self.pelvis = _by_side(f, "pelvic_drop")
        self.trunk = _by_side(f, "trunk_lean")
        self.header_title = _test_title(result)
        self._rep_text = _rep_texts(result)

    # -- per frame
    def draw(self, rgb: np.ndarray, row: int | None, time_s: float, *, caption: Caption | None = None,
             face_box: privacy.Box | None = None) -> np.ndarray:
        """Draw the overlay of PoseSequence ``row`` (None: no skeleton) on ``rgb`` (modified and returned).
        ``face_box`` is blurred first."""
        if face_box is not None:
            privacy.blur_box(rgb, face_box, inplace=True)
        c = Canvas(rgb, self.style)
        st = self.style
        m = st.gap
        rep = self._rep_text.get(row, "") if row is not None else ""
        head = [(self.header_title, st.font_px, TEXT_RGB),
                (f"{rep} \u00b7 t {time_s:.2f} s" if rep else f"t {time_s:.2f} s", st.small_px, TEXT_RGB),
                (DISCLAIMER_SHORT, st.small_px, MUTED_RGB)]
        header = c.text_block(m, m, head, width=min(self.width - 2 * m, round(330 * st.scale)))
        legend = severity_legend(c, KNEE_SIGN_NOTE)
        if caption is not None:
            self._caption(c, caption, row, top=header[3] + m // 2, bottom=legend[1] - m // 2)
        if row is not None and self.result.pose.detected[row]:
            self._skeleton(c, row)
        return c.finish()

    def _caption(self, c: Canvas, caption: Caption, row: int | None, *, top: int, bottom: int) -> None:
        """The key-frame caption, above the legend or below the header: wherever it covers less of the body."""
        st = self.style
        lines = [(caption.title, st.font_px, TEXT_RGB)]
        lines += [(f"\u25cf {t}" if sev else t, st.small_px, severity_rgb(sev) if sev else TEXT_RGB)
                  for t, sev in caption.lines]
        width = self.width - 2 * st.gap
        _, _, bh = c.measure_block(lines, width)
        body = self._body_box(row)

        def covered(y0: int) -> float:
            if body is None:
                return 0.0
            return max(0.0, min(y0 + bh, body[3]) - max(y0, body[1]))

        y_bottom, y_top = bottom - bh, top
        y0 = y_top if covered(y_top) < covered(y_bottom) else y_bottom
        c.text_block(st.gap, y0, lines, width=width, alpha=0.7)

    def _body_box(self, row: int | None) -> tuple[float, float, float, float] | None:
        if row is None:
            return None
        xy = self._xy[row]
        ok = np.all(np.isfinite(xy), axis=1)
        if not ok.any():
            return None
        pts = xy[ok]
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

    def severity(self, which: dict[Side, str], row: int | None) -> str | None:
        """Severity of the pelvis/trunk finding that applies at ``row``: the current stance side's,
        else the worst over sides."""
        if not which:
            return None
        side = self.stance_side(row)
        if side is not None and side in which:
            return which[side]
        return worst_severity(list(which.values()))

    def stance_side(self, row: int | None) -> Side | None:
        if row is None:
            return None
        s = int(self.result.segmentation.stance[row])
        return Side.LEFT if s > 0 else Side.RIGHT if s < 0 else None

    def _skeleton(self, c: Canvas, row: int) -> None:
        st = self.style
        xy = self._xy[row]
        series = self.result.series

        def p(lm: L) -> np.ndarray:
            return xy[int(lm)]

        for a, b in SKELETON_EDGES:
            c.line(p(a), p(b), BONE_RGB, st.bone_px)
        for side in Side:
            col = severity_rgb(self.knee_sev[side])
            for a, b in _LEG_EDGES[side]:
                c.line(p(a), p(b), col, st.accent_px - 1)
        pel_col = severity_rgb(self.severity(self.pelvis, row))
        trunk_col = severity_rgb(self.severity(self.trunk, row))
        lh, rh, ls, rs = p(L.LEFT_HIP), p(L.RIGHT_HIP), p(L.LEFT_SHOULDER), p(L.RIGHT_SHOULDER)
        mid_hip, mid_sh = (lh + rh) / 2, (ls + rs) / 2
        hip_w = float(np.hypot(*(lh - rh))) if np.all(np.isfinite(lh - rh)) else np.nan
        if np.isfinite(hip_w):  # references: horizontal through the pelvis, vertical through the mid-hip
            c.dashed(mid_hip - [hip_w, 0], mid_hip + [hip_w, 0], MUTED_RGB, max(1, st.bone_px - 1))
            if np.all(np.isfinite(mid_sh)):
                c.dashed(mid_hip, np.array([mid_hip[0], mid_sh[1]]), MUTED_RGB, max(1, st.bone_px - 1))
        c.line(mid_hip, mid_sh, trunk_col, st.accent_px)
        c.line(lh, rh, pel_col, st.accent_px)
        for lm in (L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_SHOULDER, L.RIGHT_SHOULDER, L.LEFT_ANKLE, L.RIGHT_ANKLE):
            c.joint(p(lm), BONE_RGB, st.joint_r)
        for side in Side:
            c.joint(p(L[f"{side.name}_KNEE"]), severity_rgb(self.knee_sev[side]), st.joint_r + max(1, st.joint_r // 2))
        # knee labels, outward from each knee (the knee further right in the image labels to the right)
        lk, rk = p(L.LEFT_KNEE), p(L.RIGHT_KNEE)
        left_is_right = bool(np.isfinite(lk[0]) and np.isfinite(rk[0]) and lk[0] >= rk[0]) or not np.isfinite(rk[0])
        leg_off = 14 * st.scale
        for side, knee in ((Side.LEFT, lk), (Side.RIGHT, rk)):
            v = float(series[f"knee_fppa_{side.value}_deg"][row])
            value = f"{v:+.1f}\u00b0".replace("-", "\u2212") if np.isfinite(v) else "\u2013"
            text = f"{side_letter(side)} knee {value}"
            outward = "right" if (side is Side.LEFT) == left_is_right else "left"
            inward = "left" if outward == "right" else "right"
            c.label(knee, text, severity_rgb(self.knee_sev[side]), prefer=(outward, "below", inward),
                    offset=leg_off)
        # pelvis: beside the hip on the image left; trunk: beside the mid-trunk on the image right
        # relative to neutral standing, as the findings are (camera roll and posture taken out)
        ob = float(series.get("pelvic_obliquity_rel_deg", series["pelvic_obliquity_deg"])[row])
        if np.isfinite(ob) and np.isfinite(hip_w):
            low = "L" if ob > 0 else "R"
            text = f"pelvis {abs(ob):.1f}\u00b0 {low} low" if abs(ob) >= 0.05 else "pelvis level"
            outer = lh if lh[0] < rh[0] else rh
            c.label(outer, text, pel_col, prefer=("left", "above", "below"), offset=hip_w * 0.35)
        lean = float(series.get("trunk_lean_rel_deg", series["trunk_lean_deg"])[row])
        if np.isfinite(lean) and np.all(np.isfinite(mid_sh)) and np.all(np.isfinite(mid_hip)):
            to = "L" if lean > 0 else "R"
            text = f"trunk {abs(lean):.1f}\u00b0 to {to}" if abs(lean) >= 0.05 else "trunk upright"
            sh_w = float(np.hypot(*(ls - rs))) if np.all(np.isfinite(ls - rs)) else 0.0
            anchor = mid_hip + (mid_sh - mid_hip) * 0.6
            c.label(anchor, text, trunk_col, prefer=("right", "left", "above"), offset=sh_w * 0.6)


def _by_side(findings: tuple[Finding, ...], code: str) -> dict[Side, str]:
    out: dict[Side, list[str]] = {}
    for f in findings:
        if f.code == code and f.side is not None:
            out.setdefault(f.side, []).append(f.severity)
    return {s: worst_severity(v) or "unknown" for s, v in out.items()}


def _test_title(result: ScreeningResult) -> str:
    t = result.test
    title = t.label[0].upper() + t.label[1:]
    if t is TestType.DOUBLE_LEG_SQUAT:
        return title
    sides = {s.side for s in result.segmentation.segments if s.side is not None}
    if len(sides) == 2:
        return f"{title} \u00b7 both legs"
    side = result.stance_side or next(iter(sides), None)
    return f"{title} \u00b7 {side.value} leg" if side else title


def segment_numbers(result: ScreeningResult) -> dict[int, tuple[int, int]]:
    """For each segment (by position in ``segmentation.segments``): (1-based number among the segments
    of its side, how many that side has)."""
    segs = result.segmentation.segments
    out = {}
    for i, s in enumerate(segs):
        same = [j for j, x in enumerate(segs) if x.side is s.side]
        out[i] = (same.index(i) + 1, len(same))
    return out


def _rep_texts(result: ScreeningResult) -> dict[int, str]:
    """Row → "rep 2/3" (squats) or "on the right leg 3.2 s" (stance) during each segment."""
    t = result.pose.timestamps
    nums = segment_numbers(result)
    out: dict[int, str] = {}
    for i, s in enumerate(result.segmentation.segments):
        k, n = nums[i]
        for r in range(s.start, s.end + 1):
            if s.kind is TestType.SINGLE_LEG_STANCE:
                side = s.side.value if s.side else ""
                out[r] = f"on the {side} leg for {t[r] - t[s.start]:.1f} s"
            else:
                out[r] = f"rep {k}/{n}" + (f" ({side_letter(s.side)})" if s.side and _two_sides(result) else "")
    return out


def _two_sides(result: ScreeningResult) -> bool:
    return len({s.side for s in result.segmentation.segments if s.side is not None}) == 2


class RowLookup:
    """Which analysed row to draw on a source frame: the row of that frame if it was analysed, else the
    row nearest in time (within 1.5 analysed frame intervals); the bracketing rows for the face box."""

    def __init__(self, result: ScreeningResult) -> None:
        pose = result.pose
        self.fi = np.asarray(pose.frame_indices)
        self.ts = np.asarray(pose.timestamps)
        dt = float(np.median(np.diff(self.ts))) if len(self.ts) > 1 else 1.0 / pose.meta.fps
        self.max_gap = 1.5 * dt + 1e-6

    def __call__(self, index: int, time_s: float) -> tuple[int | None, tuple[int, ...]]:
        n = len(self.fi)
        k = int(np.searchsorted(self.fi, index))
        if k < n and self.fi[k] == index:
            return k, (k,)
        lo, hi = max(k - 1, 0), min(k, n - 1)
        near = lo if abs(self.ts[lo] - time_s) <= abs(self.ts[hi] - time_s) else hi
        row = near if abs(self.ts[near] - time_s) <= self.max_gap else None
        return row, tuple(sorted({lo, hi}))


def head_points(result: ScreeningResult) -> np.ndarray:
    """(T, 33, 2) landmarks for the face boxes of ``result`` (see ``privacy.face_landmarks``)."""
    return privacy.face_landmarks(result.clean.xy, result.pose.coords)


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ChainscanError(
            "The annotated video needs the imageio-ffmpeg package; install it with "
            "`pip install imageio-ffmpeg`.") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        raise ChainscanError(
            "No ffmpeg binary was found for the annotated video; reinstall imageio-ffmpeg "
            "(`pip install --force-reinstall imageio-ffmpeg`).") from None


def _rate(fps: float) -> str:
    fr = Fraction(fps).limit_denominator(1001)
    return f"{fr.numerator}/{fr.denominator}"


#: the annotated video's longest side, pixels: sharp in a browser or on a phone, and 2.25× fewer pixels to draw
#: and encode than 1080p
MAX_VIDEO_SIDE = 1280


def _output_size(w: int, h: int, max_side: int | None) -> tuple[int, int, float]:
    """Even output size within ``max_side`` (H.264 needs even sizes) and the scale from the source."""
    s = min(1.0, max_side / max(w, h)) if max_side else 1.0
    ow, oh = int(round(w * s)), int(round(h * s))
    return ow + (ow % 2), oh + (oh % 2), s


def _pyav_frames(video, meta, keep, ew: int, eh: int, *, start: int = 0, stop: int | None = None,
                 start_time_s: float = 0.0, threads: int = 0, times: np.ndarray | None = None):
    """Frames to draw, from PyAV; ``times`` (the timestamp index) checks that a part's seek counted its
    frames right (a repaired timestamp could shift them by one)."""
    for f in decode_chunk(video, start=start, stop=stop, keep=keep, start_time_s=start_time_s,
                          rotation_deg=meta.rotation_deg, size=(ew, eh), threads=threads):
        if f.rgb.shape != (eh, ew, 3):
            raise ChunkDecodeError(f"frame {f.index} decoded as {f.rgb.shape[1]}x{f.rgb.shape[0]}")
        if times is not None and (f.index >= len(times) or abs(f.time_s - times[f.index]) > 1e-3):
            raise ChunkDecodeError(f"frame {f.index} at {f.time_s:.4f} s is not where the index puts it")
        yield f


#: the video pass is drawn in this many parts side by side (one per core, at most 4) when each part has at
#: least MIN_FRAMES_PER_PART frames; the parts are joined without re-encoding
MIN_FRAMES_PER_PART = 150


def _video_parts(total: int) -> int:
    from ..extract import default_workers  # one per available core

    return max(1, min(default_workers(), 4, total // MIN_FRAMES_PER_PART))


@dataclass(frozen=True)
class _Part:
    start: int            # first source frame of the part (a seek target)
    stop: int             # source frames < stop
    keep: np.ndarray      # source frames drawn
    start_time_s: float
    times: np.ndarray     # the clip's timestamp index (to check what the seek found)


def _plan_parts(video, meta, keep, parts: int) -> list[_Part]:
    """Equal runs of the frames to draw, each with where to seek; [] for one pass (one part, or no index)."""
    if parts < 2:
        return []
    times = frame_times(video, meta.fps)
    if times is None:
        return []
    idx = np.arange(len(times)) if keep is None else np.asarray(keep, np.int64)
    idx = idx[idx < len(times)]
    if len(idx) < 2 * parts:
        return []
    bounds = np.linspace(0, len(idx), parts + 1).round().astype(int)
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        k = idx[a:b]
        out.append(_Part(int(k[0]), int(k[-1]) + 1, k, float(times[k[0]]), times))
    return out


def _encode_parts(exe: str, out: Path, video, meta, parts: list[_Part], ew: int, eh: int, fps: float,
                  ann: Annotator, lookup: RowLookup, boxes, total: int, progress: Progress | None) -> int:
    """Draw and encode ``parts`` in threads side by side (decoding, scaling, drawing and x264 mostly run
    outside the GIL), each to its own file, then join them into ``out`` without re-encoding. Every part
    file is removed; ``out`` appears only when complete."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    counts = [0] * len(parts)

    def part_progress(i: int):
        def report(done: int, _total: int) -> None:
            with lock:
                counts[i] = done
                if progress is not None:
                    progress(sum(counts), total)
        return report

    tag = uuid.uuid4().hex[:8]
    files = [out.parent / f".{out.stem}-{tag}-{i}.part.mp4" for i in range(len(parts))]

    def run(i: int) -> int:
        p = parts[i]
        frames = _pyav_frames(video, meta, p.keep, ew, eh, start=p.start, stop=p.stop, start_time_s=p.start_time_s,
                              threads=1, times=p.times)
        return _encode(exe, files[i], frames, ew, eh, fps, ann, lookup, boxes, len(p.keep), part_progress(i))

    try:
        with ThreadPoolExecutor(len(parts)) as pool:
            done = [f.result() for f in [pool.submit(run, i) for i in range(len(parts))]]
        if any(d != len(p.keep) for d, p in zip(done, parts)):
            raise ChunkDecodeError(f"a part drew {done} frames of {[len(p.keep) for p in parts]}")
        _join(exe, files, out)
        return sum(done)
    finally:
        for f in files:
            f.unlink(missing_ok=True)


def _join(exe: str, files: list[Path], out: Path) -> None:
    """Concatenate H.264 MP4 parts (same encoder settings) into ``out`` without re-encoding."""
    listing = out.parent / f".{out.stem}-{uuid.uuid4().hex[:8]}.parts.txt"
    tmp = out.parent / f".{out.stem}-{uuid.uuid4().hex[:8]}.part.mp4"
    listing.write_text("".join(f"file '{f.name}'\n" for f in files), encoding="utf-8")
    try:
        proc = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat",
                               "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart", "-f", "mp4",
                               str(tmp)], capture_output=True)
        if proc.returncode != 0:
            raise ChainscanError(f"Joining the annotated video failed (ffmpeg: "
                                 f"{_last_line(proc.stderr, proc.returncode)}); check the output folder and free "
                                 "disk space, or reinstall imageio-ffmpeg.")
        _put_in_place(tmp, out)
    finally:
        listing.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def _last_line(stderr: bytes, otherwise) -> str:
    """ffmpeg's last stderr line (its error), or ``otherwise`` when it printed nothing."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else str(otherwise)


def _put_in_place(tmp: Path, out: Path) -> None:
    """Rename a finished temporary video to ``out`` (same folder: atomic)."""
    try:
        os.replace(tmp, out)
    except OSError as e:
        raise ChainscanError(f"Cannot write the annotated video to {out} ({e.strerror}); "
                             "choose a path you can write to.") from None


def _reader_frames(reader: VideoReader, keep, ew: int, eh: int):
    cv2 = _cv2()
    for f in reader.frames(keep=keep):
        if f.rgb.shape[:2] != (eh, ew):
            f = Frame(f.index, f.time_s, cv2.resize(f.rgb, (ew, eh), interpolation=cv2.INTER_AREA))
        yield f


def _encode(exe: str, out: Path, frames, ew: int, eh: int, fps: float, ann: Annotator, lookup: RowLookup,
            boxes, total: int, progress: Progress | None) -> int:
    """Draw ``frames`` and encode them to ``out`` (H.264, via a temporary file renamed when complete);
    returns the number of frames written. Frames go to ffmpeg as YUV 4:2:0 (converted here, half the
    bytes of RGB). A ChunkDecodeError from ``frames`` removes the partial file and propagates."""
    # ffmpeg creates the temporary file itself (ordinary permissions); it is renamed when complete
    tmp = out.parent / f".{out.stem}-{uuid.uuid4().hex[:8]}.part.mp4"
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
           "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{ew}x{eh}", "-framerate", _rate(fps),
           "-i", "pipe:0", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "22",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    cv2 = _cv2()
    ok = False
    done = 0
    try:
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
            except OSError as e:
                raise ChainscanError(
                    f"The video encoder ffmpeg could not be started ({e.strerror}: {exe}); "
                    "reinstall imageio-ffmpeg or unset IMAGEIO_FFMPEG_EXE.") from None
            assert proc.stdin is not None
            broken = False
            try:
                for frame in frames:
                    row, around = lookup(frame.index, frame.time_s)
                    box = None
                    if boxes is not None:
                        for r in around:
                            box = privacy.union(box, boxes[r])
                    rgb = ann.draw(frame.rgb, row, frame.time_s, face_box=box)
                    try:
                        proc.stdin.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420).data)
                    except (BrokenPipeError, OSError):
                        broken = True
                        break
                    done += 1
                    if progress is not None:
                        progress(done, total)
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    broken = True
                code = proc.wait()
            if code != 0 or broken:
                err.seek(0)
                raise ChainscanError(
                    f"Encoding the annotated video failed (ffmpeg: {_last_line(err.read(), f'exit code {code}')}); "
                    "check the output folder and free disk space, or reinstall imageio-ffmpeg.")
        if done:
            _put_in_place(tmp, out)
            ok = True
    finally:
        if not ok:
            tmp.unlink(missing_ok=True)
    return done


def write_annotated_video(video: str | os.PathLike, result: ScreeningResult, out_path: str | os.PathLike, *,
                          blur_faces: bool = False, progress: Progress | None = None,
                          max_side: int | None = MAX_VIDEO_SIDE) -> Path:
    """Write the analysed frames of ``video`` with ``result``'s overlay to ``out_path`` (H.264 MP4).

    The video holds the frames that were analysed (with ``--max-fps 30`` a 60 fps clip gives a 30 fps video,
    each frame with its own landmarks) and is scaled down to at most ``max_side`` pixels (None: source size).

    The file appears only when complete (written to a temporary file beside it, then renamed).
    Raises VideoReadError if the video cannot be read and ChainscanError if it is not the video
    the result came from, or if encoding or writing fails.
    """
    out = Path(out_path)
    exe = _ffmpeg_exe()
    with VideoReader(video) as reader:
        meta = reader.meta
        pm = result.pose.meta
        if (meta.width, meta.height) != (pm.width, pm.height):
            raise ChainscanError(
                f"{meta.source} is {meta.width}x{meta.height} but the result is of a {pm.width}x{pm.height} "
                f"video ({pm.source}); give the video that was screened.")
        w, h = meta.width, meta.height
        ew, eh, scale = _output_size(w, h, max_side)
        ann = Annotator(result, ew, eh, scale=scale)
        lookup = RowLookup(result)
        boxes = privacy.face_boxes(head_points(result) * scale, ew, eh) if blur_faces else None
        fi = np.asarray(result.pose.frame_indices)
        subsampled = len(fi) < meta.n_frames_declared - max(3, int(0.1 * meta.n_frames_declared))
        out_fps = result.pose.fps if subsampled else meta.fps
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ChainscanError(f"Cannot write the annotated video to {out} ({e.strerror}); "
                                 "choose a folder you can write to.") from None
        if out.is_dir():
            raise ChainscanError(f"{out} is a folder; give a file name for the annotated video (e.g. annotated.mp4).")
        keep = fi if subsampled else None
        total = len(fi) if subsampled else meta.n_frames_declared
        try:  # PyAV, scaled in YUV: in parts drawn side by side when worth it, else one pass on all cores
            parts = _plan_parts(video, meta, keep, parts=_video_parts(total))
            if parts:
                done = _encode_parts(exe, out, video, meta, parts, ew, eh, out_fps, ann, lookup, boxes, total,
                                     progress)
            else:
                done = _encode(exe, out, _pyav_frames(video, meta, keep, ew, eh), ew, eh, out_fps, ann, lookup,
                               boxes, total, progress)
        except ChunkDecodeError:  # OpenCV's reader, in one pass
            done = _encode(exe, out, _reader_frames(reader, keep, ew, eh), ew, eh, out_fps, ann, lookup, boxes,
                           total, progress)
        if done == 0:
            raise ChainscanError(f"{meta.source} gave no frames to annotate; check the video file.")
    return out
