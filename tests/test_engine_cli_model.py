"""The CLI with the real model: a second person in view is named as the cause when no test is recognised,
and the terminal progress bar appears when stderr is a terminal (run under a pseudo-terminal)."""

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainscan.cli import app

runner = CliRunner()
CHAINSCAN = Path(sys.executable).parent / "chainscan"


@pytest.mark.model
def test_two_people_the_second_person_is_named_first(test_videos, tmp_path):
    out = tmp_path / "res"
    r = runner.invoke(app, ["screen", str(test_videos / "two_people.mp4"), "--out", str(out), "--no-video",
                            "--workers", "1"])
    assert r.exit_code == 1
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.output
    # the single_person gate's message comes first, then what could not be found
    assert lines[0].startswith("chainscan: Another person was seen in"), lines[0]
    assert "only the person being screened in view" in lines[0]
    assert "probably why no squat or single-leg stance was recognised" in lines[0]
    assert not out.exists()


def _run_in_pty(args: list[str], timeout_s: float = 300) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    buf = b""
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                buf += data
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            pytest.fail(f"{args} did not finish in {timeout_s} s")
    finally:
        proc.wait()
        os.close(master)
    return proc.returncode, buf.decode("utf-8", "replace")


@pytest.mark.model
def test_progress_bar_on_a_terminal(test_videos, tmp_path):
    if not CHAINSCAN.is_file():
        pytest.skip("the chainscan console script is not installed next to this python")
    code, text = _run_in_pty([str(CHAINSCAN), "screen", str(test_videos / "two_people.mp4"), "--out",
                              str(tmp_path / "res"), "--no-video", "--workers", "1"])
    assert code == 1
    assert "Tracking pose in two_people.mp4" in text
    assert "/90 frames" in text  # the bar counts the clip's 90 frames
    assert "Another person was seen in" in text  # and the error still reaches the terminal
    # -q: no bar
    code, text = _run_in_pty([str(CHAINSCAN), "screen", str(test_videos / "two_people.mp4"), "--out",
                              str(tmp_path / "res"), "--no-video", "--workers", "1", "-q"])
    assert code == 1 and "Tracking pose" not in text and "Another person was seen in" in text


@pytest.mark.model
def test_findings_are_shown_before_the_annotated_video_is_drawn(test_videos, tmp_path):
    """The screening's summary reaches the terminal as soon as it exists; the video's own bar follows, and the
    last line says how long the screening took on its own."""
    if not CHAINSCAN.is_file():
        pytest.skip("the chainscan console script is not installed next to this python")
    code, text = _run_in_pty([str(CHAINSCAN), "screen", str(test_videos / "single_leg_squat_left_valgus.mp4"),
                              "--out", str(tmp_path / "res"), "--workers", "1"], timeout_s=180)
    assert code == 0, text
    summary = text.index("not a diagnosis")
    drawing = text.index("Drawing the annotated video")
    wrote = text.index("Wrote ")
    assert summary < drawing < wrote
    assert "annotated.mp4" in text[wrote:] and "(the screening " in text[wrote:]
    assert (tmp_path / "res" / "annotated.mp4").is_file()


@pytest.mark.model
def test_on_screened_comes_before_any_file(test_videos, tmp_path):
    from chainscan.run import ScreenOptions, screen_to_folder

    seen = []
    frames = []

    def on_screened(result):
        seen.append((result.test, (tmp_path / "res").exists()))

    result, files = screen_to_folder(test_videos / "single_leg_squat_left_valgus.mp4", tmp_path / "res",
                                     ScreenOptions(), on_screened=on_screened,
                                     video_progress=lambda done, total: frames.append((done, total)))
    assert seen == [(result.test, False)]  # called once, with the result, before the folder exists
    assert frames and frames[-1][0] == frames[-1][1] > 0  # the video's progress reached its end
    assert (tmp_path / "res" / "annotated.mp4") in files
