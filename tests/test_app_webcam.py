"""The webcam page's result through Streamlit's AppTest: a recording made by the live path's recorder (the
frames of a test clip fed as a webcam would, at an uneven analysed rate) gets the same result view as an
upload (annotated video, key frames, all six exports) and is stored in the history without a button."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "test_videos" / "double_leg_squat.mp4"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINSCAN_DB", str(tmp_path / "history.db"))
    monkeypatch.setenv("CHAINSCAN_FILES", str(tmp_path / "files"))
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """(result, pose, video): the clip's frames and landmarks through LiveRecorder, every other frame
    skipped now and then (as the frame callback skips frames when the model is slower than the camera)."""
    from chainscan.io.pose import PoseFrame
    from chainscan.io.video import VideoReader
    from chainscan.live import LiveRecorder, LiveSample
    from chainscan.pipeline import screen_pose
    from chainscan.types import TestType
    from chainscan.ui.analyse import analyse_file

    _, clip_pose = analyse_file(CLIP)
    rows = {int(i): k for k, i in enumerate(clip_pose.frame_indices)}
    rec = LiveRecorder(tmp_path_factory.mktemp("webcam") / "webcam_20261121_101500.mp4")
    with VideoReader(CLIP) as reader:
        for fr in reader.frames():
            k = rows.get(fr.index)
            if k is None or fr.index % 5 == 3:        # an uneven rate: ~24 analysed frames/s
                continue
            img = np.concatenate([clip_pose.coords[k], clip_pose.visibility[k][:, None]], axis=1)
            frame = None if not np.isfinite(img).any() else PoseFrame(img.astype(np.float32), clip_pose.world[k])
            rec.add(LiveSample(500.0 + float(clip_pose.timestamps[k]), 1000 + fr.index, frame,
                               fr.rgb.shape[1], fr.rgb.shape[0]), fr.rgb)
    video = rec.close()
    pose = rec.pose(model=clip_pose.model)
    return screen_pose(pose, test=TestType.DOUBLE_LEG_SQUAT), pose, video


def _webcam_result_script() -> None:
    from chainscan.ui.webcam import show_result

    show_result("local")


def _webcam_app(recording) -> AppTest:
    import datetime as dt

    result, pose, video = recording
    at = AppTest.from_function(_webcam_result_script, default_timeout=180)
    at.session_state["webcam_result"] = result
    at.session_state["webcam_pose"] = pose
    at.session_state["webcam_video"] = video
    at.session_state["webcam_started"] = dt.datetime(2026, 11, 21, 10, 15)
    return at


@pytest.mark.model
def test_webcam_result_has_the_annotated_video_key_frames_and_exports_and_is_stored(recording):
    from chainscan.storage import open_storage

    result, pose, video = recording
    assert pose.n_frames > 150 and list(pose.frame_indices[:3]) == [0, 1, 2]
    at = _webcam_app(recording).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # the same result view as an upload: findings with a real title, the annotated video, key frames
    titles = [m.value for m in at.markdown if "Knees moving inward in the squat" in m.value]
    assert titles, [m.value for m in at.markdown][:20]
    videos = at.get("video")
    assert len(videos) == 1 and videos[0].proto.url, "no annotated video in the webcam result"
    keyframes = [c for i in at.get("image") for c in i.captions if c.startswith("Key frame")]
    assert len(keyframes) == 2, "no key frames in the webcam result"
    # the recording's brightness is checked like an upload's
    assert any(m.value.startswith(":green-badge[pass] **lighting**: Lighting is sufficient") for m in at.markdown)
    labels = [b.label for b in at.download_button]
    for want in ("PDF report", "HTML report", "Result (JSON)", "Frames (CSV)", "Reps (CSV)", "Annotated video"):
        assert want in labels, labels
    manifest = {e["label"]: e for e in at.session_state["webcam_result:exports"]}
    assert manifest["Annotated video"]["file_name"] == "webcam_20261121_101500_annotated.mp4"
    # stored without pressing anything, under the default label
    assert any("Stored in the history as screening" in s.value for s in at.success), [s.value for s in at.success]
    store = open_storage()
    assert store.labels("local") == ["Webcam 2026-11-21 10:15"]
    (rec,) = store.list("local")
    assert {"annotated.mp4", "report.pdf", "result.json"} <= set(rec.files)
    assert rec.result["test"] == "double_leg_squat"

    # the label and the notes can be changed: the stored screening follows (one screening, not two)
    next(t for t in at.text_input if t.key == "webcam_result:label").set_value("Anna B.")
    at.run()
    next(t for t in at.text_area if t.key == "webcam_result:notes").set_value("after the squat course")
    at.run()
    assert not at.exception, at.exception
    (rec,) = store.list("local")
    assert rec.label == "Anna B." and rec.notes == "after the squat course"
    at.run()                                                        # a rerun stores nothing more
    assert len(store.list("local")) == 1


def test_a_failed_webcam_analysis_stores_nothing():
    from chainscan.storage import open_storage

    at = AppTest.from_function(_webcam_result_script, default_timeout=60)
    at.session_state["webcam_error"] = "Nobody was found in the recording; stand in view and try again."
    at.run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["Nobody was found in the recording; stand in view and try again."]
    assert not open_storage().labels("local")
