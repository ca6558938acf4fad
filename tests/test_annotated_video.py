"""Annotated video, key frames and face blur (chainscan.report.video / keyframes / privacy).

Most tests use synthetic landmarks (chainscan.synthetic, scaled to 360x640) over a generated textured
clip of the same length, so they need no model; one test runs the real model on a sample clip.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chainscan.errors import ChainscanError
from chainscan.io.video import VideoReader
from chainscan.landmarks import Landmark as L
from chainscan.landmarks import Side
from chainscan.pipeline import screen_pose
from chainscan.report import privacy
from chainscan.report.keyframes import choose_keyframes, write_keyframes
from chainscan.report.video import Annotator, RowLookup, write_annotated_video
from chainscan.synthetic import make_single_leg_squat, make_single_leg_stance, make_squat
from chainscan.types import PoseSequence
from helpers_video import ffmpeg_exe

cv2 = pytest.importorskip("cv2")

W, H = 360, 640  # the synthetic clips (720x1280) at half size: quick to encode


def _half(pose: PoseSequence) -> PoseSequence:
    c = pose.coords.copy()
    c[..., :3] *= 0.5
    return PoseSequence(coords=c, visibility=pose.visibility.copy(), world=pose.world.copy(),
                        timestamps=pose.timestamps.copy(), frame_indices=pose.frame_indices.copy(),
                        meta=dataclasses.replace(pose.meta, width=W, height=H), model=pose.model)


def _textured_clip(path: Path, n_frames: int, fps: float = 30, size: tuple[int, int] = (W, H)) -> Path:
    """A still, finely textured frame (so a blur is measurable) repeated ``n_frames`` times, H.264."""
    w, h = size
    pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"  # 4:2:0 needs even sizes
    rng = np.random.default_rng(1)
    coarse = rng.integers(40, 216, (h // 4, w // 4, 3), dtype=np.uint8)
    base = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)  # texture that survives the codec
    data = base.tobytes() * n_frames
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0", "-c:v", "libx264",
           "-preset", "ultrafast", "-crf", "12", "-pix_fmt", pix_fmt, str(path)]
    proc = subprocess.run(cmd, input=data, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return path


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


def _probe(path: Path) -> str:
    """ffmpeg's description of the file (what ffprobe would print)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return proc.stderr


def _lap_var(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def _box_around(p: np.ndarray, r: int) -> tuple[slice, slice]:
    x, y = int(round(p[0])), int(round(p[1]))
    return slice(max(y - r, 0), y + r), slice(max(x - r, 0), x + r)


@pytest.fixture(scope="module")
def sls(tmp_path_factory):
    """Synthetic single-leg squat on the left leg (marked valgus): result and its matching clip."""
    clip = make_single_leg_squat(Side.LEFT, valgus_deg=18.0, seed=3)
    result = screen_pose(_half(clip.pose))
    video = _textured_clip(tmp_path_factory.mktemp("sls") / "sls.mp4", result.pose.n_frames)
    return result, video


@pytest.fixture(scope="module")
def sls_out(sls, tmp_path_factory):
    result, video = sls
    d = tmp_path_factory.mktemp("sls_out")
    calls = []
    plain = write_annotated_video(video, result, d / "annotated.mp4", progress=lambda k, n: calls.append((k, n)))
    blurred = write_annotated_video(video, result, d / "blurred.mp4", blur_faces=True)
    return plain, blurred, calls


# --------------------------------------------------------------------------------------------------
# the video file


def test_annotated_video_is_browser_playable_h264(sls, sls_out):
    result, video = sls
    out, _, calls = sls_out
    info = _probe(out)
    assert re.search(r"Video: h264\b", info), info
    assert "yuv420p" in info
    av = pytest.importorskip("av")
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert s.codec_context.pix_fmt == "yuv420p"
        assert abs(float(s.average_rate) - 30.0) < 0.01
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat"), "moov atom is not at the start (no +faststart)"
    frames = _frames(out)
    assert abs(len(frames) - result.pose.n_frames) <= 1
    assert frames[0].shape == (H, W, 3) and W % 2 == 0 and H % 2 == 0
    assert [c[0] for c in calls] == list(range(1, result.pose.n_frames + 1))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_overlay_is_drawn_around_the_knees(sls, sls_out):
    result, video = sls
    out, _, _ = sls_out
    src, ann = _frames(video), _frames(out)
    seg = result.segmentation.segments[0]
    row = seg.deepest
    for knee in (L.LEFT_KNEE, L.RIGHT_KNEE):
        sl = _box_around(result.clean.xy[row, knee], 12)
        diff = np.abs(ann[row][sl].astype(int) - src[row][sl].astype(int)).mean()
        assert diff > 20, f"nothing drawn at {knee.name}"
    # the stance knee is drawn in the colour of its finding (marked: red)
    valgus = next(f for f in result.findings if f.code == "knee_valgus")
    assert valgus.severity == "marked"
    y, x = np.round(result.clean.xy[row, L.LEFT_KNEE, ::-1]).astype(int)
    patch = ann[row][y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).mean(axis=0)
    assert patch[0] > 180 and patch[1] < 130, patch
    # a patch away from the body and the text panels stays as it was (up to the codec)
    corner = (slice(520, 580), slice(W - 60, W))
    assert np.abs(ann[row][corner].astype(int) - src[row][corner].astype(int)).mean() < 8


def test_annotator_frames_without_a_person_or_row_get_no_skeleton(sls):
    result, _ = sls
    ann = Annotator(result, W, H)
    base = np.full((H, W, 3), 90, np.uint8)
    row = result.segmentation.segments[0].deepest
    drawn = ann.draw(base.copy(), row, 1.0)
    empty = ann.draw(base.copy(), None, 1.0)
    knee = _box_around(result.clean.xy[row, L.LEFT_KNEE], 8)
    assert (drawn[knee] != 90).any()
    assert (empty[knee] == 90).all()
    assert (empty[:40, :100] != 90).any(), "the header is drawn even without a person"


def test_row_lookup_uses_the_nearest_analysed_row():
    clip = make_squat(n_reps=1, seed=0)
    p = clip.pose
    keep = np.arange(0, p.n_frames, 3)  # as if screened with --max-fps 10
    sub = PoseSequence(coords=p.coords[keep].copy(), visibility=p.visibility[keep].copy(),
                       world=p.world[keep].copy(), timestamps=p.timestamps[keep].copy(),
                       frame_indices=p.frame_indices[keep].copy(), meta=p.meta, model=p.model)
    result = screen_pose(sub)
    look = RowLookup(result)
    assert look(30, p.timestamps[30])[0] == 10
    assert look(31, p.timestamps[31])[0] == 10
    assert look(32, p.timestamps[32])[0] == 11
    assert look(32, p.timestamps[32])[1] == (10, 11)
    assert look(p.n_frames + 60, p.timestamps[-1] + 2.0)[0] is None


def test_odd_sized_video_is_padded_to_even(tmp_path):
    clip = make_squat(n_reps=1, seed=2)
    p = _half(clip.pose)
    pose = PoseSequence(coords=p.coords, visibility=p.visibility, world=p.world, timestamps=p.timestamps,
                        frame_indices=p.frame_indices, meta=dataclasses.replace(p.meta, width=W - 1, height=H - 1))
    result = screen_pose(pose)
    video = _textured_clip(tmp_path / "odd.mkv", pose.n_frames, size=(W - 1, H - 1))
    out = write_annotated_video(video, result, tmp_path / "odd.mp4")
    info = _probe(out)
    assert re.search(rf"Video: h264\b.*yuv420p.*{W}x{H}", info), info
    assert abs(len(_frames(out)) - pose.n_frames) <= 1


def test_video_of_a_subsampled_large_clip_has_the_analysed_frames_at_most_1280_px(tmp_path):
    """A 60 fps 1080x1920 clip analysed at 30 fps: the annotated video is 30 fps, one frame per analysed
    row, scaled to 720x1280 (and the overlay is drawn where the scaled landmarks are)."""
    clip = make_squat(n_reps=1, seed=3, stand_s=0.5)
    p = clip.pose
    n = p.n_frames
    big = 1.5  # the synthetic clip is 720x1280
    c = p.coords.copy()
    c[..., :3] *= big
    pose = PoseSequence(coords=c, visibility=p.visibility.copy(), world=p.world.copy(),
                        timestamps=np.arange(n) / 30.0, frame_indices=np.arange(n) * 2,
                        meta=dataclasses.replace(p.meta, width=1080, height=1920, fps=60.0, n_frames_declared=2 * n),
                        model=p.model)
    result = screen_pose(pose)
    video = _textured_clip(tmp_path / "big60.mp4", 2 * n, fps=60, size=(1080, 1920))
    out = write_annotated_video(video, result, tmp_path / "big.mp4")
    info = _probe(out)
    assert re.search(r"Video: h264\b.*yuv420p.*720x1280", info), info
    assert re.search(r"\b30 fps\b", info), info
    frames = _frames(out)
    assert abs(len(frames) - n) <= 1
    row = int(np.argmax(p.coords[:, L.LEFT_KNEE, 1]))  # the deepest frame
    knee = (p.coords[row, L.LEFT_KNEE, :2] * big * (1280 / 1920)).round().astype(int)
    source = cv2.resize(_frames(video)[2 * row], (720, 1280), interpolation=cv2.INTER_LINEAR).astype(int)
    diff = np.abs(frames[row].astype(int) - source).max(axis=2)
    assert np.median(diff) < 20  # it is the source, scaled

    def marked(pt: np.ndarray) -> float:
        y, x = int(pt[1]), int(pt[0])
        if not (5 <= x < diff.shape[1] - 5 and 5 <= y < diff.shape[0] - 5):
            return 0.0  # off the frame: nothing drawn there
        return float((diff[y - 5:y + 6, x - 5:x + 6] > 80).mean())

    assert marked(knee) > 0.5  # the knee marker sits on the scaled knee ...
    unscaled = (p.coords[row, L.LEFT_KNEE, :2] * big).round().astype(int)
    assert marked(unscaled) < 0.2, marked(unscaled)  # ... not where the full-size landmark would be


# --------------------------------------------------------------------------------------------------
# key frames


def _check_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imread(str(path))
    assert img is not None and img.shape == (H, W, 3)


def test_keyframes_single_leg_only_the_stance_side(sls, tmp_path):
    result, video = sls
    kf = write_keyframes(video, result, tmp_path / "kf")
    assert set(kf) == {"left"}
    assert sorted(p.name for p in (tmp_path / "kf").iterdir()) == ["keyframe_left.png"]
    _check_png(kf["left"])
    # the worst rep's deepest frame
    chosen = choose_keyframes(result)[Side.LEFT]
    fppa = result.series["knee_fppa_left_deg"]
    assert chosen.row == max((s.deepest for s in result.segmentation.segments), key=lambda r: fppa[r])


def test_keyframes_double_leg_both_sides(tmp_path):
    clip = make_squat(n_reps=2, valgus_deg=(4.0, 10.0), seed=1)
    result = screen_pose(_half(clip.pose))
    video = _textured_clip(tmp_path / "dls.mp4", result.pose.n_frames)
    kf = write_keyframes(video, result, tmp_path / "kf", blur_faces=True)
    assert set(kf) == {"left", "right"}
    for p in kf.values():
        _check_png(p)


def test_keyframe_single_leg_stance_is_the_pelvic_drop_evidence_frame(tmp_path):
    clip = make_single_leg_stance(Side.RIGHT, hold_s=3.0, seed=4)
    result = screen_pose(_half(clip.pose))
    drop = next(f for f in result.findings if f.code == "pelvic_drop")
    assert choose_keyframes(result)[Side.RIGHT].row == drop.evidence_frame
    video = _textured_clip(tmp_path / "sls.mp4", result.pose.n_frames)
    kf = write_keyframes(video, result, tmp_path / "kf")
    assert set(kf) == {"right"}
    _check_png(kf["right"])


# --------------------------------------------------------------------------------------------------
# face blur


def _face_frame(result, row):
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), result.clean.xy[row]


def test_blur_face_blurs_the_face_and_nothing_else(sls):
    result, _ = sls
    rgb, xy = _face_frame(result, 10)
    box = privacy.face_box(xy, W, H)
    assert box is not None
    x0, y0, x1, y1 = box
    ears = abs(xy[L.LEFT_EAR, 0] - xy[L.RIGHT_EAR, 0])
    assert x1 - x0 >= 1.5 * ears and y1 - y0 >= x1 - x0
    assert x0 <= xy[L.RIGHT_EAR, 0] and xy[L.LEFT_EAR, 0] <= x1 and y0 < xy[L.NOSE, 1] < y1
    out = privacy.blur_face(rgb, xy)
    assert _lap_var(out[y0:y1, x0:x1]) < 0.02 * _lap_var(rgb[y0:y1, x0:x1])
    outside = np.ones((H, W), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], rgb[outside])
    assert not np.array_equal(out, rgb) and rgb is not out


def test_face_blur_keeps_the_last_box_when_landmarks_are_missing(sls):
    result, _ = sls
    rgb, xy = _face_frame(result, 10)
    blur = privacy.FaceBlurrer()
    first = blur(rgb, xy)
    missing = np.full_like(xy, np.nan)
    second = blur(rgb, missing)
    assert np.array_equal(first, second)
    boxes = privacy.face_boxes(np.stack([missing, xy, missing]), W, H)
    assert boxes[0] == boxes[1] == boxes[2] is not None


def test_annotated_video_blurs_faces(sls, sls_out):
    result, _ = sls
    plain, blurred, _ = sls_out
    row = 20
    box = privacy.face_box(result.clean.xy[row], W, H)
    x0, y0, x1, y1 = box
    a, b = _frames(plain)[row], _frames(blurred)[row]
    assert _lap_var(b[y0:y1, x0:x1]) < 0.1 * _lap_var(a[y0:y1, x0:x1])
    far = (slice(H - 150, H - 100), slice(W - 60, W))
    assert np.abs(a[far].astype(int) - b[far].astype(int)).mean() < 4


# --------------------------------------------------------------------------------------------------
# failures: a clear ChainscanError and no partial file


def _fake_ffmpeg(tmp_path: Path) -> Path:
    """An 'ffmpeg' that writes half a file to its output, complains and fails."""
    exe = tmp_path / "ffmpeg"
    exe.write_text('#!/bin/sh\nfor a in "$@"; do out="$a"; done\necho partial > "$out"\n'
                   'echo "Unknown encoder libx264" >&2\nexit 1\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


@pytest.mark.parametrize("kind", ["missing", "failing"])
def test_broken_ffmpeg_gives_chainscan_error_and_no_file(sls, tmp_path, monkeypatch, kind):
    result, video = sls
    exe = tmp_path / "no-such-ffmpeg" if kind == "missing" else _fake_ffmpeg(tmp_path)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))
    out_dir = tmp_path / "out"
    with pytest.raises(ChainscanError, match="ffmpeg") as e:
        write_annotated_video(video, result, out_dir / "annotated.mp4")
    assert "\n" not in str(e.value)
    assert list(out_dir.iterdir()) == []


def test_unwritable_output_gives_chainscan_error(sls, tmp_path):
    result, video = sls
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ChainscanError, match="Cannot write"):
        write_annotated_video(video, result, blocker / "annotated.mp4")
    with pytest.raises(ChainscanError, match="folder"):
        write_annotated_video(video, result, tmp_path)
    with pytest.raises(ChainscanError, match="Cannot write"):
        write_keyframes(video, result, blocker / "kf")
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_video_that_does_not_match_the_result_is_refused(sls, tmp_path):
    result, video = sls
    other = dataclasses.replace(result, pose=dataclasses.replace(
        result.pose, meta=dataclasses.replace(result.pose.meta, width=W * 2, height=H * 2)))
    with pytest.raises(ChainscanError, match="give the video that was screened"):
        write_annotated_video(video, other, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


# --------------------------------------------------------------------------------------------------
# the real model on a sample clip


@pytest.mark.model
def test_real_clip_annotated_video_and_keyframes(test_videos, tmp_path):
    from chainscan.pipeline import screen_video

    src = test_videos / "single_leg_squat_left_valgus.mp4"
    result, _ = screen_video(src)
    out = write_annotated_video(src, result, tmp_path / "annotated.mp4", blur_faces=True)
    assert re.search(r"Video: h264\b.*yuv420p", _probe(out))
    with VideoReader(src) as v:
        n_src, size = sum(1 for _ in v.frames()), (v.meta.width, v.meta.height)
    with VideoReader(out) as v:
        n_out = sum(1 for _ in v.frames())
        assert (v.meta.width, v.meta.height) == size
    assert abs(n_out - n_src) <= 1
    kf = write_keyframes(src, result, tmp_path / "kf")
    assert set(kf) == {"left"}
    img = cv2.imread(str(kf["left"]))
    assert img.shape == (size[1], size[0], 3)


@pytest.mark.parametrize("text", ["L knee +12.3°", "pelvis −4.5° R low", "t 12.07 s"])
def test_text_built_from_glyphs_looks_like_pillows_rendering(text):
    """Per-frame texts (angles) are assembled from cached glyphs; the result must match Pillow drawing
    the whole string with the same outline (no kerning pairs in these texts)."""
    from PIL import Image, ImageDraw

    from chainscan.report.draw import DARK, _blend, font, text_sprite, text_width

    size, outline, fill = 25, 2, (245, 245, 245)
    rgb, alpha, (dx, dy) = text_sprite(text, size, True, fill, outline)
    assert rgb.dtype == np.uint8 and alpha.shape == rgb.shape[:2] and 0 <= alpha.min() and alpha.max() <= 1
    ours = np.full((60, 400, 3), 90, np.uint8)
    _blend(ours, rgb, alpha, 10 + dx, 10 + dy)
    ref = Image.fromarray(np.full((60, 400, 3), 90, np.uint8))
    ImageDraw.Draw(ref).text((10, 10), text, font=font(size, True), fill=fill, stroke_width=outline,
                             stroke_fill=DARK)
    diff = np.abs(ours.astype(int) - np.asarray(ref).astype(int))
    assert diff.mean() < 0.3 and np.percentile(diff, 99.5) < 40, (diff.mean(), diff.max())
    # the layout width agrees with what is drawn
    assert abs(text_width(text, font(size, True)) - (rgb.shape[1] - 2 * outline)) <= 3


def test_video_frames_and_key_frames_say_screen_not_a_diagnosis(sls, tmp_path, monkeypatch):
    """Every exported image carries the statement (issue 4: in every output)."""
    from chainscan.report import draw
    from chainscan.report.video import DISCLAIMER_SHORT

    drawn: list[str] = []
    real = draw.Canvas.text

    def spy(self, x, y, text, **kw):
        drawn.append(text)
        return real(self, x, y, text, **kw)

    monkeypatch.setattr(draw.Canvas, "text", spy)
    result, video = sls
    Annotator(result, W, H).draw(np.zeros((H, W, 3), np.uint8), 10, 0.3)
    assert DISCLAIMER_SHORT in drawn
    drawn.clear()
    write_keyframes(video, result, tmp_path / "kf")
    assert DISCLAIMER_SHORT in drawn


def test_key_frames_blur_the_face(tmp_path):
    clip = make_squat(n_reps=2, valgus_deg=(4.0, 10.0), seed=1)
    result = screen_pose(_half(clip.pose))
    video = _textured_clip(tmp_path / "dls.mp4", result.pose.n_frames)
    plain = write_keyframes(video, result, tmp_path / "plain")
    blurred = write_keyframes(video, result, tmp_path / "blur", blur_faces=True)
    from PIL import Image

    for side in ("left", "right"):
        a = np.asarray(Image.open(plain[side]).convert("RGB"))
        b = np.asarray(Image.open(blurred[side]).convert("RGB"))
        row = choose_keyframes(result)[Side(side)].row
        x0, y0, x1, y1 = privacy.face_box(result.clean.xy[row], a.shape[1], a.shape[0])
        inner = (slice(y0 + 10, y1 - 4), slice(x0 + 4, x1 - 4))  # the box's top edge touches the header panel
        assert _lap_var(b[inner]) < 0.1 * _lap_var(a[inner])
        far = (slice(a.shape[0] - 150, a.shape[0] - 100), slice(a.shape[1] - 60, a.shape[1]))
        assert np.abs(a[far].astype(int) - b[far].astype(int)).mean() < 4


def test_a_decoder_failure_midway_falls_back_to_opencv_and_leaves_one_complete_file(sls, tmp_path, monkeypatch):
    from chainscan.io.video import ChunkDecodeError
    from chainscan.report import video as video_mod

    result, clip = sls
    real = video_mod.decode_chunk

    def fails_midway(*a, **k):
        for i, f in enumerate(real(*a, **k)):
            if i == 10:
                raise ChunkDecodeError("simulated")
            yield f

    monkeypatch.setattr(video_mod, "decode_chunk", fails_midway)
    calls = []
    out = write_annotated_video(clip, result, tmp_path / "a.mp4", progress=lambda k, n: calls.append(k))
    assert abs(len(_frames(out)) - result.pose.n_frames) <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]  # no partial file left behind
    assert calls.count(10) == 2  # the first ten frames were drawn, then everything again from OpenCV


def test_annotated_video_of_a_rotated_phone_clip_is_upright(sls, tmp_path, monkeypatch):
    """Stored landscape with a quarter-turn display rotation: the annotated video is portrait, like the
    analysed frames, and shows the same picture as OpenCV's upright frames."""
    from chainscan.report import video as video_mod
    from helpers_video import ffmpeg

    def no_fallback(*a, **k):
        raise AssertionError("the PyAV path must handle the rotation itself")

    monkeypatch.setattr(video_mod, "_reader_frames", no_fallback)

    result, clip = sls
    stored = tmp_path / "stored.mp4"
    ffmpeg("-i", str(clip), "-vf", "transpose=2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12",
           "-pix_fmt", "yuv420p", str(stored))  # the picture turned a quarter left: stored 640x360
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation:v:0", "-90", "-i", str(stored), "-c", "copy", str(rotated))  # shown upright again
    with VideoReader(rotated) as r:
        assert (r.meta.width, r.meta.height, r.meta.rotation_deg) == (W, H, 90)
        upright = [f.rgb for f in r.frames()]
    out = write_annotated_video(rotated, result, tmp_path / "a.mp4")
    frames = _frames(out)
    assert frames[0].shape == (H, W, 3)
    diff = np.abs(frames[5].astype(int) - upright[5].astype(int)).max(axis=2)
    assert np.median(diff) < 20  # the same picture, the same way up (the overlay covers a part of it)


# --------------------------------------------------------------------------------------------------
# the video pass in parts side by side


def test_parts_cover_every_frame_once_in_order(sls, monkeypatch):
    from chainscan.io.video import probe
    from chainscan.report import video as video_mod

    result, clip = sls
    meta = probe(clip)
    n = result.pose.n_frames
    assert n >= 2 * video_mod.MIN_FRAMES_PER_PART  # the fixture is long enough to be split
    parts = video_mod._plan_parts(clip, meta, None, 2)
    assert len(parts) == 2
    assert np.concatenate([p.keep for p in parts]).tolist() == list(range(meta.n_frames_declared))
    assert all(p.start == p.keep[0] and p.stop == p.keep[-1] + 1 for p in parts)
    sub = np.arange(0, n, 3)
    assert np.concatenate([p.keep for p in video_mod._plan_parts(clip, meta, sub, 3)]).tolist() == sub.tolist()
    assert video_mod._plan_parts(clip, meta, None, 1) == []
    monkeypatch.setattr(video_mod, "frame_times", lambda *a, **k: None)  # no timestamp index: one pass
    assert video_mod._plan_parts(clip, meta, None, 2) == []
    assert video_mod._video_parts(100) == 1 and video_mod._video_parts(10_000) >= 1


def test_a_video_drawn_in_parts_is_the_one_pass_video(sls, tmp_path, monkeypatch):
    """Same frames, same overlay on each: on a plain grey clip (no texture for the encoder to differ on),
    the overlay pixels of every frame match the one-pass video's."""
    from chainscan.report import video as video_mod

    result, _ = sls
    grey = tmp_path / "grey.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=0x808080:s={W}x{H}:r=30", "-frames:v", str(result.pose.n_frames), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(grey)], check=True)
    monkeypatch.setattr(video_mod, "_video_parts", lambda total: 2)
    calls = []
    two = write_annotated_video(grey, result, tmp_path / "two.mp4", progress=lambda k, n: calls.append((k, n)))
    monkeypatch.setattr(video_mod, "_video_parts", lambda total: 1)
    one = write_annotated_video(grey, result, tmp_path / "one.mp4")
    a, b = _frames(two), _frames(one)
    assert len(a) == len(b) == result.pose.n_frames
    for i, (x, y) in enumerate(zip(a, b)):
        mx = np.abs(x.astype(int) - 128).max(axis=2) > 40  # what the overlay drew
        my = np.abs(y.astype(int) - 128).max(axis=2) > 40
        iou = (mx & my).sum() / max((mx | my).sum(), 1)
        assert iou > 0.9, (i, iou)
    info = _probe(two)
    assert re.search(r"Video: h264\b.*yuv420p", info) and re.search(r"\b30 fps\b", info), info
    done = [k for k, _ in calls]
    assert done == sorted(done) and done[-1] == result.pose.n_frames and {n for _, n in calls} == {len(a)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grey.mp4", "one.mp4", "two.mp4"]  # no part files left


def test_a_failed_join_leaves_no_file_at_all(sls, tmp_path, monkeypatch):
    from chainscan.report import video as video_mod

    result, clip = sls
    monkeypatch.setattr(video_mod, "_video_parts", lambda total: 2)

    def bad_join(exe, files, out):
        assert all(f.is_file() for f in files)  # both parts were written ...
        raise ChainscanError("Joining the annotated video failed (ffmpeg: test); check the output folder.")

    monkeypatch.setattr(video_mod, "_join", bad_join)
    with pytest.raises(ChainscanError, match="Joining"):
        write_annotated_video(clip, result, tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []  # ... and removed with the failure


def test_a_part_whose_seek_counts_frames_wrong_falls_back_to_one_pass(sls, tmp_path, monkeypatch):
    from chainscan.report import video as video_mod

    result, clip = sls
    monkeypatch.setattr(video_mod, "_video_parts", lambda total: 3)
    real_plan, real_reader = video_mod._plan_parts, video_mod._reader_frames
    used = []

    def one_frame_late(*a, **k):  # the middle part's seek finds the frame after the one it counts as first
        parts = real_plan(*a, **k)
        p = parts[1]
        return [parts[0], dataclasses.replace(p, start_time_s=float(p.times[p.start + 1])), parts[2]]

    def reader(*a, **k):
        used.append(True)
        return real_reader(*a, **k)

    monkeypatch.setattr(video_mod, "_plan_parts", one_frame_late)
    monkeypatch.setattr(video_mod, "_reader_frames", reader)
    out = write_annotated_video(clip, result, tmp_path / "a.mp4")
    assert used and abs(len(_frames(out)) - result.pose.n_frames) <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
