"""chainscan batch: a folder of clips, in parallel processes or on Dask; resume, failures, summary.csv.

Two tests run the real model (a 4-clip folder through the CLI, and 2 clips on a 2-worker Dask
cluster). The resume, retry, crash and Ctrl-C behaviour is tested with a fake per-clip screening
(``fake_screen`` below, imported by the spawned worker processes) that takes a fraction of a second.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainscan import batch
from chainscan.cli import app
from chainscan.errors import InsufficientData

runner = CliRunner()
TESTS = Path(__file__).resolve().parent
VIDEOS = TESTS.parent / "test_videos"

# columns that hold text, a count or a severity; every other column is a number with its unit last
_TEXT = {"clip", "status", "message", "results_folder", "test", "stance_side", "reps", "stance_periods",
         "flagged_findings", "failed_quality_gates", "screened_at"}
_UNITS = ("_deg", "_s", "_ratio", "_shanklen")


def _summary(out: Path) -> dict[str, dict]:
    with (out / "summary.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for col in rows[0]:
        assert col in _TEXT or col.endswith("_severity") or col.endswith(_UNITS), f"no unit: {col}"
    return {r["clip"]: r for r in rows}


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()
            and p.name != "summary.csv" and "lock" not in p.name}


# ------------------------------------------------------------------------------------------ the real model

@pytest.mark.model
def test_batch_screens_a_folder_reports_failures_and_resumes(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("double_leg_squat.mp4", "single_leg_stance_right.mp4", "side_view_squat.mp4"):
        shutil.copy(VIDEOS / name, clips / name)
    (clips / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "results"
    args = ["batch", str(clips), "--out", str(out), "--workers", "2", "--no-video"]

    r = runner.invoke(app, args)
    assert r.exit_code == 1, r.output
    assert "2 screened, 0 skipped (already done), 2 failed — see" in r.output
    assert "Traceback" not in r.output
    assert sum(line.startswith("[") for line in r.output.splitlines()) == 4  # one line per clip
    rows = _summary(out)
    assert list(rows) == ["broken.mp4", "double_leg_squat.mp4", "side_view_squat.mp4", "single_leg_stance_right.mp4"]
    assert {c: r["status"] for c, r in rows.items()} == {
        "broken.mp4": "failed", "double_leg_squat.mp4": "ok", "side_view_squat.mp4": "failed",
        "single_leg_stance_right.mp4": "ok"}
    assert "could not be opened as a video" in rows["broken.mp4"]["message"]
    assert "side view" in rows["side_view_squat.mp4"]["message"]
    assert "frontal_view (blocking)" in rows["side_view_squat.mp4"]["failed_quality_gates"]
    dls, sls = rows["double_leg_squat.mp4"], rows["single_leg_stance_right.mp4"]
    assert dls["test"] == "double_leg_squat" and dls["reps"] == "3" and dls["results_folder"] == "double_leg_squat"
    assert float(dls["worst_knee_fppa_left_deg"]) < 0 and dls["knees_inward_severity"] == "ok"
    assert sls["test"] == "single_leg_stance" and sls["stance_side"] == "right"
    assert sls["pelvic_drop_right_severity"] in ("ok", "mild", "marked") and sls["pelvic_drop_right_deg"]
    for folder in ("double_leg_squat", "single_leg_stance_right"):
        assert json.loads((out / folder / "result.json").read_text())["schema_version"]
        assert not (out / folder / "annotated.mp4").exists()
    assert not (out / "broken").exists() and not (out / "side_view_squat").exists()
    assert not list((out / batch.STATE_DIR).glob("work/*"))  # no staging left behind

    # re-run: nothing is recomputed
    before = _mtimes(out)
    r = runner.invoke(app, args)
    assert r.exit_code == 1, r.output
    assert "0 screened, 2 skipped (already done), 2 failed (2 in an earlier run" in r.output
    assert _mtimes(out) == before

    # an interruption that lost one clip (no status record, no folder): only that clip is screened again
    (out / batch.STATE_DIR / "status" / "single_leg_stance_right.mp4.json").unlink()
    shutil.rmtree(out / "single_leg_stance_right")
    r = runner.invoke(app, [*args, "-q"])
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "1 screened, 1 skipped (already done), 2 failed" in r.stderr
    after = _mtimes(out)
    assert after["double_leg_squat/result.json"] == before["double_leg_squat/result.json"]
    assert after["single_leg_stance_right/result.json"] != before["single_leg_stance_right/result.json"]
    assert _summary(out)["single_leg_stance_right.mp4"]["status"] == "ok"


@pytest.mark.model
def test_batch_runs_on_a_dask_cluster_of_two_workers(tmp_path):
    distributed = pytest.importorskip("distributed")
    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    shutil.copy(VIDEOS / "double_leg_squat.mp4", clips / "sub" / "squat.mp4")
    (clips / "broken.mov").write_bytes(b"not a video")
    out = tmp_path / "results"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        r = runner.invoke(app, ["batch", str(clips), "--out", str(out), "--recursive", "--no-video", "--max-fps", "15",
                                "--scheduler", lc.scheduler_address])
    assert r.exit_code == 1, r.output
    assert "on the Dask cluster at tcp://" in r.output and "1 screened, 0 skipped (already done), 1 failed" in r.output
    rows = _summary(out)
    assert rows["sub/squat.mp4"]["status"] == "ok" and rows["sub/squat.mp4"]["results_folder"] == "sub/squat"
    assert rows["sub/squat.mp4"]["test"] == "double_leg_squat"
    assert rows["broken.mov"]["status"] == "failed"
    assert (out / "sub" / "squat" / "result.json").is_file()
    rec = json.loads((out / batch.STATE_DIR / "status" / "sub" / "squat.mp4.json").read_text())
    assert rec["status"] == "ok" and rec["size_bytes"] == (clips / "sub" / "squat.mp4").stat().st_size


# --------------------------------------------------------------------------- a fake screening (no model)

def fake_screen(video: Path, out: Path, options) -> dict:
    """Stands in for screen_to_folder in the worker processes. The clip's bytes say what to do:
    FAIL → InsufficientData, CRASH → the process dies, SLOW → sleeps 30 s, SLEEP n → sleeps n s and
    gives a result, anything else → a result."""
    log = os.environ.get("CHAINSCAN_FAKE_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{video.name} {os.getpid()} {time.time()}\n")
    data = video.read_bytes()
    if data.startswith(b"FAIL"):
        raise InsufficientData("Nobody was found in the video; film the whole body, head to feet.")
    if data.startswith(b"CRASH"):
        os._exit(3)
    if data.startswith(b"SLOW"):
        time.sleep(30)
    if data.startswith(b"SLEEP"):
        time.sleep(float(data.split()[1]))
    result = {"test": "double_leg_squat", "stance_side": None, "reps": [{"left": {"knee_fppa_deg": 5.0},
                                                                          "right": {"knee_fppa_deg": 12.5}}],
              "stance_periods": [], "source": {"duration_s": 4.0},
              "findings": [{"code": "knees_inward", "side": None, "value": 0.7, "unit": "ratio", "severity": "mild"}],
              "quality": [{"gate": "distance", "passed": False, "blocking": False}],
              "threshold": options.config.threshold("fppa_sls_mild")}
    out.mkdir(parents=True)
    (out / "result.json").write_text(json.dumps(result))
    return result


def _calls(log: Path) -> list[str]:
    names = [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(names)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    clips = tmp_path / "clips"
    clips.mkdir()
    log = tmp_path / "calls.log"
    monkeypatch.setenv("CHAINSCAN_FAKE_LOG", str(log))
    monkeypatch.syspath_prepend(str(TESTS))  # the spawned workers import fake_screen from this module

    def run(**kw):
        kw.setdefault("workers", 1)
        return batch.run_batch(clips, tmp_path / "out", screen=fake_screen, **kw)

    return clips, tmp_path / "out", log, run


def test_interrupted_batch_keeps_finished_clips_and_resumes(fake):
    clips, out, log, run = fake
    for n in ("a", "b", "c"):
        (clips / f"{n}.mp4").write_bytes(b"OK " + n.encode())

    def stop_after_first(done, todo, rec):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(on_clip_done=stop_after_first)
    assert _calls(log) == ["a.mp4"]
    rows = _summary(out)
    assert [r["status"] for r in rows.values()] == ["ok", "pending", "pending"]
    assert rows["a.mp4"]["worst_knee_fppa_right_deg"] == "12.5" and rows["a.mp4"]["knees_inward_ratio"] == "0.7"
    assert rows["a.mp4"]["flagged_findings"] == "knees_inward (mild)" and rows["a.mp4"]["failed_quality_gates"] == \
        "distance"
    assert sorted(p.name for p in out.iterdir()) == [".chainscan-batch", "a", "summary.csv"]

    rep = run(workers=2)
    assert _calls(log) == ["b.mp4", "c.mp4"]
    assert (rep.screened, rep.skipped, rep.failed) == (2, 1, 0) and rep.ok
    assert [r["status"] for r in _summary(out).values()] == ["ok", "ok", "ok"]


def test_failed_clips_are_retried_only_when_asked_and_changes_are_screened_again(fake):
    from chainscan.config import ScreeningConfig
    from chainscan.run import ScreenOptions

    clips, out, log, run = fake
    (clips / "good.mp4").write_bytes(b"OK")
    (clips / "bad.mp4").write_bytes(b"FAIL")
    rep = run()
    assert _calls(log) == ["bad.mp4", "good.mp4"]
    assert (rep.screened, rep.skipped, rep.failed, rep.failed_earlier) == (1, 0, 1, 0)
    assert _summary(out)["bad.mp4"]["message"].startswith("Nobody was found")

    rep = run()
    assert _calls(log) == [] and (rep.screened, rep.skipped, rep.failed, rep.failed_earlier) == (0, 1, 1, 1)
    rep = run(retry_failed=True)
    assert _calls(log) == ["bad.mp4"] and rep.failed == 1

    (clips / "good.mp4").write_bytes(b"OK, recorded again")  # the source changed
    (clips / "bad.mp4").write_bytes(b"OK now")
    rep = run()
    assert _calls(log) == ["bad.mp4", "good.mp4"] and rep.ok and rep.screened == 2

    opts = ScreenOptions(config=ScreeningConfig().with_overrides({"thresholds": {"fppa_sls_mild": 20}}))
    rep = run(options=opts)  # other settings: every clip again, with them
    assert _calls(log) == ["bad.mp4", "good.mp4"] and rep.screened == 2
    assert json.loads((out / "good" / "result.json").read_text())["threshold"] == 20


def test_a_crashing_clip_is_recorded_and_the_batch_goes_on(fake):
    clips, out, log, run = fake
    (clips / "a_crash.mp4").write_bytes(b"CRASH")
    (clips / "b.mp4").write_bytes(b"SLEEP 2")  # busy (or starting) when a_crash's process dies
    (clips / "c.mp4").write_bytes(b"OK")
    rep = run(workers=2)
    calls = _calls(log)
    assert calls.count("a_crash.mp4") == 2  # beside b (blame unknown), then alone (failed)
    assert calls.count("b.mp4") in (1, 2)  # b's first process may die before b starts
    rows = _summary(out)
    assert rows["a_crash.mp4"]["status"] == "failed" and "stopped unexpectedly" in rows["a_crash.mp4"]["message"]
    assert rows["b.mp4"]["status"] == rows["c.mp4"]["status"] == "ok"
    assert (rep.screened, rep.failed) == (2, 1)


_SIGINT_SCRIPT = """
import faulthandler, signal, sys
faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for the stacks if it hangs
# a terminal delivers Ctrl-C; a test runner started in the background inherits SIGINT ignored (shells
# ignore it for background jobs), and Python then never raises KeyboardInterrupt
signal.signal(signal.SIGINT, signal.default_int_handler)
from chainscan import batch
from test_batch import fake_screen
def done(n, todo, rec):
    print("DONE", rec["clip"], flush=True)
batch.run_batch(sys.argv[1], sys.argv[2], workers=2, screen=fake_screen, on_clip_done=done)
"""


def test_ctrl_c_stops_the_worker_processes_and_leaves_a_valid_summary(fake):
    clips, out, log, _ = fake
    (clips / "a.mp4").write_bytes(b"OK")
    for n in ("b", "c", "d"):
        (clips / f"{n}.mp4").write_bytes(b"SLOW")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, "-c", _SIGINT_SCRIPT, str(clips), str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "DONE a.mp4"
        deadline = time.time() + 20
        while log.read_text().count("\n") < 3 and time.time() < deadline:  # a and the first slow clip started
            time.sleep(0.1)
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGUSR1)
            time.sleep(1)
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate(timeout=10)
            pytest.fail(f"the batch did not stop within 30 s of Ctrl-C; its threads:\n{err}")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode != 0 and "KeyboardInterrupt" in err
    pids = {int(line.split()[1]) for line in log.read_text().splitlines()}
    time.sleep(0.5)
    for pid in pids:  # no worker left running its clip
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    rows = _summary(out)
    assert rows["a.mp4"]["status"] == "ok" and {rows[c]["status"] for c in ("b.mp4", "c.mp4", "d.mp4")} == {"pending"}
    assert not (out / batch.STATE_DIR / "work").exists() or not any((out / batch.STATE_DIR / "work").iterdir())


# ------------------------------------------------------------------------------- finding and naming clips

def test_clips_are_found_sorted_and_get_distinct_folders(tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / ".hidden").mkdir()
    for rel in ("b.mp4", "a.MOV", "a.mp4", "sub/c.webm", ".hidden/x.mp4", "._a.mp4", "notes.txt", "sub.mp4"):
        (d / rel).write_bytes(b"x")
    (d / "results" / "a").mkdir(parents=True)
    (d / "results" / "a" / "annotated.mp4").write_bytes(b"x")
    found = batch.find_clips(d, recursive=True, exclude=d / "results")
    rels = [rel for _, rel in found]
    assert rels == ["a.MOV", "a.mp4", "b.mp4", "sub.mp4", "sub/c.webm"]
    assert [rel for _, rel in batch.find_clips(d)] == ["a.MOV", "a.mp4", "b.mp4", "sub.mp4"]
    names = batch.assign_names(rels)
    assert names == {"a.MOV": "a", "a.mp4": "a_mp4", "b.mp4": "b", "sub.mp4": "sub_mp4", "sub/c.webm": "sub/c"}
    # an earlier run's folders stay, even when a new clip would sort first
    assert batch.assign_names(["a.mov", "a.mp4"], {"a.mp4": "a"}) == {"a.mp4": "a", "a.mov": "a_mov"}


@pytest.mark.parametrize("make, expected", [
    (lambda p: None, "Folder not found"),
    (lambda p: p.mkdir(), "has no video files in it"),
    (lambda p: (p.mkdir(), (p / "sub").mkdir(), (p / "sub" / "a.mp4").write_bytes(b"x")), "add --recursive"),
    (lambda p: p.write_bytes(b"x"), "is a file, not a folder"),
])
def test_batch_without_clips_says_so_in_one_sentence(tmp_path, make, expected):
    folder = tmp_path / "clips"
    make(folder)
    r = runner.invoke(app, ["batch", str(folder), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert r.stderr.startswith("chainscan: ") and expected in r.stderr and r.stderr.count("\n") == 1
    assert "Traceback" not in r.output


def test_scheduler_without_dask_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    (tmp_path / "a.mp4").write_bytes(b"x")
    r = runner.invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--scheduler", "local"])
    assert r.exit_code == 1
    assert r.stderr == 'chainscan: --scheduler needs Dask, which is not installed; install it with pip install ' \
                       '"chainscan[dask]".\n'
    assert not (tmp_path / "out").exists()


# ------------------------------------------------- a main module that must not run again (Streamlit, AppTest)

_HOSTILE_MAIN = """
import os, pathlib
pathlib.Path(os.environ["CHAINSCAN_MAIN_MARKER"]).write_text("the parent's __main__ ran in a worker")
raise SystemExit("a spawned worker imported the parent's __main__")
"""


@pytest.fixture
def hostile_main(tmp_path, monkeypatch):
    """A ``__main__`` like the one Streamlit leaves behind (its page, or an AppTest's temporary script):
    a file with a spec of None. multiprocessing's plain "spawn" runs it again in every worker."""
    import types

    script = tmp_path / "page.py"
    script.write_text(_HOSTILE_MAIN)
    marker = tmp_path / "main_ran"
    monkeypatch.setenv("CHAINSCAN_MAIN_MARKER", str(marker))
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    return marker


def test_workers_do_not_run_the_callers_main_module_again(fake, hostile_main):
    clips, out, log, run = fake
    for n in ("a", "b", "c"):
        (clips / f"{n}.mp4").write_bytes(b"OK " + n.encode())
    rep = run(workers=2)
    assert (rep.screened, rep.failed) == (3, 0) and rep.ok
    assert not hostile_main.exists()
    assert sys.modules["__main__"].__file__.endswith("page.py")  # the caller's main is put back


def test_a_local_dask_cluster_does_not_run_the_callers_main_module_again(fake, hostile_main):
    pytest.importorskip("distributed")
    clips, out, log, run = fake
    (clips / "a.mp4").write_bytes(b"OK")
    rep = run(workers=2, scheduler="local")
    assert rep.ok and rep.screened == 1
    assert not hostile_main.exists()
