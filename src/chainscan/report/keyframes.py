"""Key frames: one annotated PNG per tested side, at the moment that shows the finding best.

- squats: the deepest frame of the worst rep of that side (largest knee FPPA of that side's knee at the
  deepest frame; a double-leg squat gives both sides);
- single-leg stance: the evidence frame of that side's pelvic-drop finding (the frame of the largest
  drop in the stance period), else the period's deepest frame.

Each PNG has the video's size and shows the skeleton, the knee angle, the pelvis and trunk lines with
their values, and a caption: side, rep, time, and the side's findings (value here, the finding's value
and its threshold, severity).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ChainscanError
from ..io.video import VideoReader, _cv2, read_frames
from ..landmarks import Side
from ..result import ScreeningResult
from ..types import Segment, TestType
from . import privacy
from .draw import SEVERITY_WORDS
from .video import Annotator, Caption, head_points, segment_numbers

#: finding code → (short name, per-frame series name pattern; "{s}" is the side)
_SHOWN = {
    "knee_valgus": ("Knee angle (FPPA)", "knee_fppa_{s}_deg"),
    "knee_inside_foot": ("Knee inside the toes", "knee_over_foot_{s}_shanklen"),
    "knees_inward": ("Knee/ankle spacing", "knee_separation_ratio"),
    "pelvic_drop": ("Pelvic drop", "pelvic_drop_deg"),
    "trunk_lean": ("Trunk lean to the standing leg", "trunk_lean_ipsi_deg"),
}


@dataclass(frozen=True)
class KeyFrame:
    """The key frame chosen for one side: PoseSequence ``row`` within ``segment`` (its position ``seg_pos``)."""

    side: Side
    row: int
    segment: Segment
    seg_pos: int


def choose_keyframes(result: ScreeningResult) -> dict[Side, KeyFrame]:
    """The key frame of every side the test examined (see the module docstring)."""
    segs = result.segmentation.segments
    out: dict[Side, KeyFrame] = {}
    if result.test is TestType.DOUBLE_LEG_SQUAT:
        sides = [Side.LEFT, Side.RIGHT] if segs else []
    else:
        sides = sorted({s.side for s in segs if s.side is not None}, key=lambda x: x.value)
    for side in sides:
        mine = [i for i, s in enumerate(segs) if result.test is TestType.DOUBLE_LEG_SQUAT or s.side is side]
        if not mine:
            continue
        if result.test is TestType.SINGLE_LEG_STANCE:
            ev = next((f.evidence_frame for f in result.findings
                       if f.code == "pelvic_drop" and f.side is side and f.evidence_frame is not None), None)
            pos = next((i for i in mine if ev is not None and segs[i].start <= ev <= segs[i].end), mine[0])
            row = ev if ev is not None and segs[pos].start <= ev <= segs[pos].end else segs[pos].deepest
        else:
            fppa = result.series[f"knee_fppa_{side.value}_deg"]
            vals = np.array([fppa[segs[i].deepest] for i in mine], dtype=float)
            pos = mine[int(np.nanargmax(vals))] if np.isfinite(vals).any() else mine[0]
            row = segs[pos].deepest
        out[side] = KeyFrame(side, int(row), segs[pos], pos)
    return out


def _fmt(v: float, unit: str) -> str:
    if not np.isfinite(v):
        return "\u2013"
    if unit == "deg":
        return f"{v:+.1f}\u00b0".replace("-", "\u2212")
    if unit == "ratio":
        return f"{v:.2f}\u00d7"
    if unit == "s":
        return f"{v:.1f} s"
    if unit == "shank lengths":
        return f"{v:+.2f} shank".replace("-", "\u2212")
    return f"{v:+.2f} {unit}".replace("-", "\u2212")


def caption_for(result: ScreeningResult, kf: KeyFrame) -> Caption:
    pose = result.pose
    k, n = segment_numbers(result)[kf.seg_pos]
    t = float(pose.timestamps[kf.row])
    frame_no = int(pose.frame_indices[kf.row])
    if kf.segment.kind is TestType.SINGLE_LEG_STANCE:
        where = f"stance {k}/{n}, largest pelvic drop" if n > 1 else "largest pelvic drop of the stance"
    else:
        where = f"rep {k}/{n}, deepest point"
    nb = "\u00a0"  # no-break space: a value never wraps away from its label
    title = f"{kf.side.value.capitalize()} side \u00b7 {where} \u00b7 t{nb}{t:.2f}{nb}s \u00b7 frame{nb}{frame_no}"
    lines: list[tuple[str, str | None]] = []
    stance = kf.segment.kind is TestType.SINGLE_LEG_STANCE
    for f in result.findings:
        if f.code not in _SHOWN or (f.side is not None and f.side is not kf.side):
            continue
        name, pattern = _SHOWN[f.code]
        series = result.series.get(pattern.format(s=kf.side.value))
        here = float(series[kf.row]) if series is not None else float("nan")
        agg = "median of the hold" if stance else (f"mean of {len(f.rep_values)} reps" if len(f.rep_values) != 1
                                                   else "one rep")
        verdict = SEVERITY_WORDS.get(f.severity, f.severity)
        lines.append((f"{name}: {_fmt(here, f.unit)} here; {agg} {_fmt(f.value, f.unit)} "
                      f"vs threshold {_fmt(f.threshold, f.unit).lstrip('+')} \u2192 {verdict}", f.severity))
    if not lines:
        lines.append(("No finding evaluates this side in this test; the angles are shown for reference.", None))
    return Caption(title, tuple(lines))


def write_keyframes(video: str | os.PathLike, result: ScreeningResult, out_dir: str | os.PathLike, *,
                    blur_faces: bool = False) -> dict[str, Path]:
    """Write ``keyframe_left.png`` / ``keyframe_right.png`` (only the sides the test examined) into
    ``out_dir``; returns {"left": path, ...}. Seeks to the key frames (see ``read_frames``).

    Raises VideoReadError if the video cannot be read, ChainscanError if it is not the screened video,
    a key frame is missing from it, or the files cannot be written (no partial PNG is left).
    """
    chosen = choose_keyframes(result)
    if not chosen:
        return {}
    pose = result.pose
    # both sides may pick the same frame (e.g. the deepest rep of a double-leg squat): one read serves both
    wanted = {int(pose.frame_indices[kf.row]) for kf in chosen.values()}
    with VideoReader(video) as reader:
        meta = reader.meta
    if (meta.width, meta.height) != (pose.meta.width, pose.meta.height):
        raise ChainscanError(
            f"{meta.source} is {meta.width}x{meta.height} but the result is of a {pose.meta.width}x"
            f"{pose.meta.height} video ({pose.meta.source}); give the video that was screened.")
    frames = {i: (fr.rgb, fr.time_s) for i, fr in read_frames(video, wanted).items()}
    missing = sorted(set(wanted) - set(frames))
    if missing:
        raise ChainscanError(
            f"{meta.source} has no frame {missing[0]} (it ends earlier than the screened video); "
            "give the video that was screened.")
    ann = Annotator(result, meta.width, meta.height)
    heads = head_points(result) if blur_faces else None
    boxes = privacy.face_boxes(heads, meta.width, meta.height) if heads is not None else None
    out = Path(out_dir)
    written: dict[str, Path] = {}
    cv2 = _cv2()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ChainscanError(f"Cannot write key frames to {out} ({e.strerror}); choose a folder you can write to.") \
            from None
    for kf in sorted(chosen.values(), key=lambda k: k.side.value):
        rgb, t = frames[int(pose.frame_indices[kf.row])]
        img = ann.draw(rgb.copy(), kf.row, t, caption=caption_for(result, kf),
                       face_box=boxes[kf.row] if boxes is not None else None)
        ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ChainscanError(f"Could not encode the {kf.side.value} key frame as PNG; try again.")
        dest = out / f"keyframe_{kf.side.value}.png"
        written[kf.side.value] = _write_atomic(dest, png.tobytes())
    return written


def _write_atomic(dest: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``dest``, then rename it (no partial file on error)."""
    tmp = dest.parent / f".{dest.stem}-{uuid.uuid4().hex[:8]}.part.png"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
        return dest
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ChainscanError(f"Cannot write {dest} ({e.strerror}); choose a folder you can write to.") from None
