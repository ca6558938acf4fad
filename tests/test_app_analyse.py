"""The "Analyse a video" page through Streamlit's AppTest with real uploads: upload → result → all six
exports, every screening stored in the history (two clips at once too), a manual test/side choice,
the questions changing the plan, face blur reaching the files, the error paths (side view, nobody in
view, too short, too dark), and the Streamlit config's privacy settings."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
VIDEOS = ROOT / "test_videos"
SIX = ("PDF report", "HTML report", "Result (JSON)", "Frames (CSV)", "Reps (CSV)", "Annotated video")


@pytest.fixture(autouse=True)
def _isolated(isolated_app):
    """Every test here: the history in a temporary database, run from the repository root (conftest)."""


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=240)


def _upload(at: AppTest, *paths: Path) -> AppTest:
    at.file_uploader(key="uploads").set_value([(p.name, p.read_bytes(), "video/mp4") for p in paths])
    return at.run()


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.caption] + [m.value for m in at.info]
    parts += [m.value for m in at.error] + [m.value for m in at.title] + [m.value for m in at.header]
    return "\n".join(str(p) for p in parts)


def _store():
    from chainscan.storage import open_storage

    return open_storage()


def _model_runs() -> int:
    from chainscan.ui import state

    return state.caches().model_runs


def _summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " · test " in m.value)


# ------------------------------------------------------------------------------------------- upload
@pytest.mark.model
def test_upload_result_exports_and_it_is_stored_under_the_clip_name():
    at = _upload(_app().run(), VIDEOS / "double_leg_squat.mp4")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "**double_leg_squat.mp4** · test recognised automatically; 3 reps" in _summary(at)
    labels = [b.label for b in at.download_button]
    assert all(x in labels for x in SIX), labels
    key = next(k for k in at.session_state.filtered_state if k.endswith(":exports")
               and "double_leg_squat" in str(at.session_state[k]))
    manifest = {e["label"]: e for e in at.session_state[key]}
    assert {manifest[x]["file_name"] for x in SIX} == {f"double_leg_squat_{s}" for s in (
        "report.pdf", "report.html", "result.json", "frames.csv", "reps.csv", "annotated.mp4")}

    # stored without pressing anything, under the clip's name, with the same files as the downloads
    assert any("Stored in the history as screening" in s.value for s in at.success)
    store = _store()
    (rec,) = store.list("local")
    assert rec.label == "double_leg_squat" and rec.test == "double_leg_squat"
    files = rec.files
    assert files["report.pdf"].read_bytes()[:5] == b"%PDF-"
    assert b"<html" in files["report.html"].read_bytes()[:500].lower()
    assert json.loads(files["result.json"].read_text())["test"] == "double_leg_squat"
    assert files["frames.csv"].read_text().splitlines()[0].startswith(("frame", "time", "t"))
    assert len(files["reps.csv"].read_text().splitlines()) == 1 + 3
    assert files["annotated.mp4"].read_bytes()[4:8] == b"ftyp"
    assert "double_leg_squat" in files["report.html"].read_text()              # the label is on the report

    # the user's own label replaces the default one; notes are kept; still one screening
    next(t for t in at.text_input if t.key.endswith(":label")).set_value("Patient 7")
    next(t for t in at.text_area if t.key.endswith(":notes")).set_value("left knee after ACL repair")
    at.run()
    assert not at.exception, at.exception
    (rec,) = store.list("local")
    assert (rec.label, rec.notes) == ("Patient 7", "left knee after ACL repair")
    assert "Patient 7" in rec.files["report.html"].read_text()


@pytest.mark.model
def test_two_clips_at_once_both_shown_and_both_stored():
    at = _upload(_app().run(), VIDEOS / "double_leg_squat.mp4", VIDEOS / "single_leg_stance_right.mp4")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    pick = at.selectbox(key="clip_choice")
    assert pick.options[:2] == ["double_leg_squat.mp4", "single_leg_stance_right.mp4"]
    assert any("Sample" in o for o in pick.options)                          # the sample stays reachable
    assert "### Double-leg squat" in [m.value for m in at.markdown]
    # every screening is stored, also the clip not on screen
    assert _store().labels("local") == ["double_leg_squat", "single_leg_stance_right"]
    pick.set_value("single_leg_stance_right.mp4")
    at.run()
    assert not at.exception, at.exception
    assert "### Single-leg stance (balance)" in [m.value for m in at.markdown]
    assert "**single_leg_stance_right.mp4**" in _summary(at)
    assert len(_store().list("local")) == 2                                   # switching stores nothing twice


@pytest.mark.model
def test_a_manual_test_and_side_override_the_automatic_choice():
    at = _app().run()                                        # the sample: a single-leg squat on the left leg
    assert "recognised automatically, standing on the **left** leg" in _summary(at)
    runs = _model_runs()
    at.selectbox(key="test_choice").set_value("Double-leg squat")
    at.run()
    assert not at.exception, at.exception
    assert any(m.value == "### Double-leg squat" for m in at.markdown)      # the choice overrides recognition
    assert "test as chosen; 3 reps" in _summary(at), _summary(at)
    # a side the clip does not show: one sentence, and choosing again works (the failure is not remembered)
    at.selectbox(key="test_choice").set_value("Single-leg squat")
    at.selectbox(key="side_choice").set_value("Right leg")
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "No single-leg support on the right leg" in at.error[0].value
    at.selectbox(key="side_choice").set_value("Left leg")
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert "test as chosen, standing on the **left** leg" in _summary(at), _summary(at)
    assert _model_runs() == runs                                             # all from the stored landmarks


# ------------------------------------------------------------------------------------------- questions
def _plan_items(at: AppTest) -> list[str]:
    return [e.label for e in at.expander if re.match(r"\d+\. ", e.label)]


@pytest.mark.model
def test_the_answers_change_the_plan():
    at = _app().run()
    before_items, before_text = _plan_items(at), _text(at)
    assert before_items and "You mentioned foot pain" not in before_text
    at.multiselect(key=next(m.key for m in at.multiselect if m.key.endswith(":pain"))).set_value(["knee", "foot"])
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith(":arch"))).set_value("Flat (a full print)")
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith(":sex"))).set_value("Female")
    at.run()
    assert not at.exception, at.exception
    after_items, after_text = _plan_items(at), _text(at)
    assert after_items != before_items
    assert after_items[0].startswith("1. Toe yoga")                         # gentle foot drills lead with foot pain
    assert "You mentioned foot pain" in after_text and "You mentioned knee pain" in after_text
    assert "a flat (collapsed) arch" in after_text
    assert "so it matches your group" in after_text                         # the sex answer: which reference applies


# ------------------------------------------------------------------------------------------- face blur
@pytest.mark.model
def test_the_video_is_shown_before_the_reports_and_even_when_they_fail(monkeypatch):
    """The video tab is filled as soon as the video and key frames are drawn; the reports come after it, and a
    report that cannot be written is said in the export tab only (nothing stored) while the video stays."""
    from chainscan.errors import ChainscanError
    from chainscan.report import outputs
    from chainscan.ui import state

    def failing_report_step(*a, **k):
        def write(folder):
            raise ChainscanError("The PDF report could not be written (test); try again.")
        return write

    monkeypatch.setattr(outputs, "report_step", failing_report_step)
    state.caches().folders.clear()
    at = _upload(_app().run(), VIDEOS / "single_leg_stance_right.mp4")
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "The PDF report could not be written (test); try again. Nothing was stored in the history."]
    assert len(at.get("video")) == 1
    assert any(c.value.startswith("Skeleton, knee angles") for c in at.caption)
    assert len(at.get("image")) == 2  # the two key frames
    assert not _store().list("local")


@pytest.mark.model
def test_blur_faces_reaches_the_video_key_frames_and_reports(monkeypatch):
    from chainscan.report import keyframes, video

    calls: dict[str, list[bool]] = {"video": [], "keyframes": []}
    real_video, real_kf = video.write_annotated_video, keyframes.write_keyframes

    def spy_video(*a, blur_faces=False, **k):
        calls["video"].append(blur_faces)
        return real_video(*a, blur_faces=blur_faces, **k)

    def spy_kf(*a, blur_faces=False, **k):
        calls["keyframes"].append(blur_faces)
        return real_kf(*a, blur_faces=blur_faces, **k)

    monkeypatch.setattr(video, "write_annotated_video", spy_video)
    monkeypatch.setattr(keyframes, "write_keyframes", spy_kf)
    from chainscan.ui import state

    state.caches().folders.clear()         # files drawn by earlier tests in this process are drawn again
    at = _upload(_app().run(), VIDEOS / "single_leg_stance_right.mp4")
    assert not at.exception, at.exception
    (clear,) = _store().list("local")
    clear_kf = {n: p.read_bytes() for n, p in clear.files.items() if n.startswith("keyframe_")}
    clear_video = clear.files["annotated.mp4"].read_bytes()
    assert clear_kf and calls["video"][-1] is False and calls["keyframes"][-1] is False
    drawn = len(calls["video"])
    box = next(c for c in at.checkbox if c.key.endswith(":blur"))
    assert box.label.startswith("Blur faces") and box.value is False
    box.check()
    at.run()
    assert not at.exception, at.exception
    assert calls["video"][-1] is True and calls["keyframes"][-1] is True
    assert any("Faces blurred." in c.value for c in at.caption)
    (blurred,) = _store().list("local")                                       # the stored screening follows
    for name, data in clear_kf.items():
        assert blurred.files[name].read_bytes() != data, name                 # blurred key frames
    assert blurred.files["annotated.mp4"].read_bytes() != clear_video
    assert blurred.id != clear.id and not clear.files["annotated.mp4"].exists()  # replaced, not duplicated
    # the report embeds the blurred key frames
    import base64

    html = blurred.files["report.html"].read_text()
    kf = next(iter(clear_kf))
    assert base64.b64encode(blurred.files[kf].read_bytes()).decode()[:200] in html
    box = next(c for c in at.checkbox if c.key.endswith(":blur"))
    box.uncheck()
    at.run()
    assert len(calls["video"]) == drawn + 1   # the clear files were kept: shown again without drawing them anew
    assert not any("Faces blurred." in c.value for c in at.caption)


# ------------------------------------------------------------------------------------------- errors
def _write(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    import cv2

    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        out.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    out.release()
    return path


def _frames(name: str) -> list[np.ndarray]:
    from chainscan.io.video import VideoReader

    with VideoReader(VIDEOS / name) as r:
        return [f.rgb for f in r.frames()]


def _lighting_gate_landed() -> bool:
    from chainscan import quality

    return any("light" in n.lower() or "dark" in n.lower() for n in dir(quality))


def _bad_clip(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """(clip, a word the message must contain)."""
    if kind == "side view":
        return VIDEOS / "side_view_squat.mp4", "side view"
    if kind == "nobody":
        return _write(tmp_path / "empty_room.mp4", [np.full((480, 320, 3), (90, 120, 150), np.uint8)] * 60), "Nobody"
    if kind == "too short":
        return _write(tmp_path / "five_frames.mp4", _frames("double_leg_squat.mp4")[:5]), "at least"
    dark = [(f.astype(np.float32) * 0.012).astype(np.uint8) for f in _frames("double_leg_squat.mp4")]
    # once the engine has its lighting gate the message names the light; until then nobody is found in the dark
    return _write(tmp_path / "dark_room.mp4", dark), "dark" if _lighting_gate_landed() else "light"


@pytest.mark.model
@pytest.mark.parametrize("kind", ["side view", "nobody", "too short", "too dark"])
def test_a_bad_clip_gets_one_friendly_sentence_the_page_works_and_nothing_is_stored(kind, tmp_path):
    clip, word = _bad_clip(kind, tmp_path)
    at = _upload(_app().run(), clip)
    assert not at.exception, at.exception
    assert len(at.error) == 1, [e.value for e in at.error]
    msg = at.error[0].value
    assert msg.startswith(f"{clip.name}: ") and word.lower() in msg.lower(), msg
    body = msg[len(clip.name) + 2:]
    assert "\n" not in msg and "Traceback" not in msg and "chainscan-ui-" not in msg and str(tmp_path) not in msg
    assert body[0].isupper() and body.endswith(".") and body.count(". ") == 0, body    # one sentence
    # the rest of the page still works: the sample's result is shown, and its view can be used
    assert "No uploaded clip could be screened; the bundled sample is shown below." in _text(at)
    assert "Knee collapse (valgus)" in _text(at)
    assert len([b for b in at.download_button]) >= 6
    # nothing stored (the sample is not stored either)
    assert not _store().labels("local")
    at.session_state["nav"] = "History"
    at.run()
    assert not at.exception and any("No saved screenings yet" in i.value for i in at.info)


# ------------------------------------------------------------------------------------------- config
def test_streamlit_config_keeps_everything_local_and_limits_uploads():
    from chainscan.config import read_toml

    cfg = read_toml(ROOT / ".streamlit" / "config.toml", "Streamlit config")
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["browser"]["serverAddress"] == "localhost"          # no public-IP lookup when headless
    limit = cfg["server"]["maxUploadSize"]
    assert isinstance(limit, int) and 50 <= limit <= 2000, limit    # MB: minutes of 1080p, not unlimited
    assert cfg["server"].get("enableXsrfProtection", True) is True


def test_the_browser_test_server_uses_the_repository_config():
    """The real-browser tests run the dashboard from the repository root, so Streamlit reads the repository's
    .streamlit/config.toml (privacy, upload limit), and do not override those settings on the command line."""
    import browser_helpers

    cmd = browser_helpers.streamlit_command(ROOT / "app.py", 8501)
    assert cmd[cmd.index("run") + 1] == str(ROOT / "app.py"), cmd
    flags = {c.split(".")[0] for c in cmd if c.startswith("--")}
    assert not any(c.startswith(("--browser.", "--client.", "--theme.")) for c in cmd), cmd
    assert not any(c.startswith(("--server.maxUploadSize", "--server.enableXsrfProtection")) for c in cmd), cmd
    assert flags <= {"--server"}, flags                              # only where to listen, nothing else
    assert os.path.samefile(browser_helpers.ROOT, ROOT)
    assert (browser_helpers.ROOT / ".streamlit" / "config.toml").is_file()
