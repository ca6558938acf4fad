"""Command line: thin wrappers around chainscan.pipeline. Errors → one line on stderr, exit code 1."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .config import ScreeningConfig
from .errors import ChainscanError, ConfigError
from .landmarks import Side
from .types import TestType

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="chainscan: screen knee valgus and pelvic drop from a frontal video. "
                       "A screen, not a diagnosis.")


class TestChoice(str, Enum):
    auto = "auto"
    double_leg_squat = "double_leg_squat"
    single_leg_squat = "single_leg_squat"
    single_leg_stance = "single_leg_stance"


class SideChoice(str, Enum):
    auto = "auto"
    left = "left"
    right = "right"


def _config(config: Optional[Path], thresholds: List[str], cutoff_hz: Optional[float],
            min_visibility: Optional[float], max_gap_s: Optional[float]) -> ScreeningConfig:
    cfg = ScreeningConfig.from_toml(config) if config else ScreeningConfig()
    over: dict = {"thresholds": {}, "signal": {}}
    for item in thresholds:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--threshold expects NAME=VALUE (e.g. fppa_sls_mild=12), got {item!r}.")
        try:
            over["thresholds"][name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--threshold {name}: {value!r} is not a number.") from None
    for key, val in (("cutoff_hz", cutoff_hz), ("min_visibility", min_visibility), ("max_gap_s", max_gap_s)):
        if val is not None:
            over["signal"][key] = val
    return cfg.with_overrides({k: v for k, v in over.items() if v})


def _test(t: TestChoice) -> Optional[TestType]:
    return None if t is TestChoice.auto else TestType(t.value)


def _side(s: SideChoice) -> Optional[Side]:
    return None if s is SideChoice.auto else Side(s.value)


def _fail(e: ChainscanError) -> None:
    typer.echo(f"chainscan: {e}", err=True)
    raise typer.Exit(1)


TEST_OPT = typer.Option(TestChoice.auto, "--test", help="Which test the clip shows (auto = recognise it).")
SIDE_OPT = typer.Option(SideChoice.auto, "--side", help="Stance leg for single-leg tests (auto = recognise it).")
CONFIG_OPT = typer.Option(None, "--config",
                          help="TOML file with [thresholds]/[signal]/[segmentation]/[quality] overrides.",
                          dir_okay=False)
THRESH_OPT = typer.Option([], "--threshold",
                          help="Override one threshold, NAME=VALUE (repeatable), e.g. fppa_sls_mild=12.")
CUTOFF_OPT = typer.Option(None, "--cutoff-hz", help="Low-pass cut-off in Hz (default 6).", min=0.1)
VIS_OPT = typer.Option(None, "--min-visibility", help="Landmarks below this visibility are dropped (0–1, default 0.5).",
                       min=0.0, max=1.0)
GAP_OPT = typer.Option(None, "--max-gap-s", help="Fill tracking gaps up to this long, seconds (default 0.25).", min=0.0)
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="Print nothing but errors.")
REPORT_OPT = typer.Option("", "--report", help="Also write a report: html, pdf or html,pdf.")
SUBJECT_OPT = typer.Option(None, "--subject", help="Person/patient label printed on the report.")
PAIN_OPT = typer.Option("", "--pain",
                        help="Where it hurts, comma-separated: knee, hip, low_back, foot (shapes the plan).")
ARCH_OPT = typer.Option(None, "--arch", help="Wet-foot arch test result: neutral, high or flat (shapes the plan).")
SEX_OPT = typer.Option(None, "--sex", help="female or male (reference values differ).")
BLUR_OPT = typer.Option(False, "--blur-faces", help="Blur the face in every exported image and video.")


def _answers(pain: str, arch: Optional[str], sex: Optional[str]):
    from .recommendations import Answers

    return Answers(pain=tuple(p.strip() for p in pain.split(",") if p.strip()), arch=arch, sex=sex)


def _finish(result, out: Path, quiet: bool, started: float, extras=(), baseline_pose=None) -> None:
    from .report.writer import write_outputs
    from .summary import summary_text

    files = write_outputs(result, out, baseline_pose=baseline_pose, extras=extras)
    if not quiet:
        typer.echo(summary_text(result))
        typer.echo(f"Wrote {', '.join(f.name for f in files)} to {out} in {time.perf_counter() - started:.1f} s.")


MAX_FPS_OPT = typer.Option(30.0, "--max-fps", min=0.0,
                           help="Analyse at most this many frames per second (default 30: 5 × the 6 Hz filter "
                                "cut-off; 0 = every frame). A 60 fps clip then takes half the work.")
MODEL_OPT = typer.Option(None, "--model", help="A MediaPipe pose_landmarker .task file "
                         "(default: $CHAINSCAN_POSE_MODEL, else the model bundled with mediapipe).")
NO_VIDEO_OPT = typer.Option(False, "--no-video", help="Do not write annotated.mp4.")
WORKERS_OPT = typer.Option(0, "--workers", "-j", min=0,
                           help="Processes for pose extraction (default 0 = one per core). 1 = this process only.")


def _workers(n: int) -> int:
    from .extract import default_workers

    return n if n > 0 else default_workers()


@app.command()
def screen(
    video: Path = typer.Argument(..., help="Video of the test (mp4, mov, avi, webm, mkv), filmed from the front."),
    out: Path = typer.Option(Path("chainscan-results"), "--out", "-o", help="Folder for the results."),
    test: TestChoice = TEST_OPT,
    side: SideChoice = SIDE_OPT,
    model: Optional[Path] = MODEL_OPT,
    max_fps: float = MAX_FPS_OPT,
    workers: int = WORKERS_OPT,
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="A separate clip of quiet standing, used as the "
                                            "neutral reference instead of standing found in the clip."),
    config: Optional[Path] = CONFIG_OPT,
    threshold: List[str] = THRESH_OPT,
    cutoff_hz: Optional[float] = CUTOFF_OPT,
    min_visibility: Optional[float] = VIS_OPT,
    max_gap_s: Optional[float] = GAP_OPT,
    report: str = REPORT_OPT,
    no_video: bool = NO_VIDEO_OPT,
    blur_faces: bool = BLUR_OPT,
    subject: Optional[str] = SUBJECT_OPT,
    pain: str = PAIN_OPT,
    arch: Optional[str] = ARCH_OPT,
    sex: Optional[str] = SEX_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Screen a video: pose → metrics → reps → findings → foot-first plan. Writes result.json, frames.csv,
    reps.csv, pose.npz, plan.json, key frames, annotated.mp4 (unless --no-video) and the --report files."""
    from .io.pose import quiet_native_logs
    from .io.video import check_video_path
    from .run import ScreenOptions, screen_to_folder, split_list
    from .summary import summary_text

    started = time.perf_counter()
    try:
        opts = ScreenOptions(
            config=_config(config, threshold, cutoff_hz, min_visibility, max_gap_s), test=_test(test),
            side=_side(side), model_path=str(model) if model else None, max_fps=max_fps or None,
            workers=_workers(workers), baseline_video=str(baseline) if baseline else None,
            report_formats=_formats(report), write_video=not no_video, blur_faces=blur_faces, subject=subject,
            pain=split_list(pain), arch=arch, sex=sex)
        _answers(pain, arch, sex)  # a bad answer is reported before any work
        check_video_path(video)
        if baseline is not None:
            check_video_path(baseline)
        screened: list[float] = []
        with quiet_native_logs() as real_stderr:
            progress_cb, stop = _progress_bar(quiet, f"Tracking pose in {video.name}", real_stderr)
            video_cb, stop_video = _progress_bar(quiet or not opts.write_video, "Drawing the annotated video",
                                                 real_stderr, start=False)

            def on_screened(result) -> None:
                # the findings are shown as soon as they exist; the files (the video above all) follow
                stop()
                screened.append(time.perf_counter() - started)
                if not quiet:
                    typer.echo(summary_text(result))

            try:
                result, files = screen_to_folder(video, out, opts, progress=progress_cb, on_screened=on_screened,
                                                 video_progress=video_cb)
            finally:
                stop()
                stop_video()
        if not quiet:
            took = time.perf_counter() - started
            split = f" (the screening {screened[0]:.1f} s)" if screened and took - screened[0] >= 1.0 else ""
            typer.echo(f"Wrote {', '.join(f.name for f in files)} to {out} in {took:.1f} s{split}.")
    except ChainscanError as e:
        _fail(e)


def _formats(report: str) -> tuple[str, ...]:
    from .report import outputs

    return outputs.parse_formats(report)


@app.command()
def reanalyse(
    pose_file: Path = typer.Argument(..., help="pose.npz written by 'chainscan screen'."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the new results."),
    test: TestChoice = TEST_OPT,
    side: SideChoice = SIDE_OPT,
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="pose.npz of a separate quiet-standing clip "
                                            "(default: the baseline_pose.npz stored beside POSE_FILE by "
                                            "'screen --baseline', if there is one)."),
    clip_baseline: bool = typer.Option(False, "--clip-baseline", help="Ignore a stored baseline_pose.npz and take "
                                       "the neutral baseline from quiet standing in the clip."),
    config: Optional[Path] = CONFIG_OPT,
    threshold: List[str] = THRESH_OPT,
    cutoff_hz: Optional[float] = CUTOFF_OPT,
    min_visibility: Optional[float] = VIS_OPT,
    max_gap_s: Optional[float] = GAP_OPT,
    report: str = REPORT_OPT,
    subject: Optional[str] = SUBJECT_OPT,
    pain: str = PAIN_OPT,
    arch: Optional[str] = ARCH_OPT,
    sex: Optional[str] = SEX_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Re-run everything after pose extraction from a stored pose.npz (no model, well under a second).
    Writes the same files as screen except the annotated video and key frames (they need the video).
    A baseline_pose.npz stored beside POSE_FILE by 'screen --baseline' is used again (unless
    --baseline or --clip-baseline says otherwise)."""
    from .io.pose_file import load_pose
    from .pipeline import neutral_baseline, screen_pose
    from .report import outputs
    from .report.writer import BASELINE_POSE_FILE

    started = time.perf_counter()
    try:
        if baseline is not None and clip_baseline:
            raise ConfigError("Give either --baseline or --clip-baseline, not both.")
        cfg = _config(config, threshold, cutoff_hz, min_visibility, max_gap_s)
        formats = outputs.parse_formats(report)
        answers = _answers(pain, arch, sex)
        pose = load_pose(pose_file)
        stored = pose_file.parent / BASELINE_POSE_FILE
        note = ""
        if baseline is None and not clip_baseline and stored.is_file():
            baseline = stored
            note = (f"Neutral baseline: the separate standing clip stored with it ({stored}); "
                    "--clip-baseline uses standing in the clip instead.")
        base_pose = load_pose(baseline) if baseline else None
        base = neutral_baseline(base_pose, cfg) if base_pose is not None else None
        result = screen_pose(pose, cfg, test=_test(test), side=_side(side), baseline=base)
        result_dict = result.to_dict()
        write_plan, plan = outputs.plan_step(result_dict, answers)
        if note and not quiet:
            typer.echo(note)
        _finish(result, out, quiet, started, [write_plan, outputs.report_step(formats, plan, result_dict, subject)],
                baseline_pose=base_pose)
    except ChainscanError as e:
        _fail(e)


@app.command("report")
def report_cmd(
    path: Path = typer.Argument(..., help="A results folder (or its result.json) written by screen or reanalyse."),
    format: str = typer.Option("html,pdf", "--format", help="html, pdf or html,pdf."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Folder for the report (default: the results folder)."),
    subject: Optional[str] = SUBJECT_OPT,
    pain: str = PAIN_OPT,
    arch: Optional[str] = ARCH_OPT,
    sex: Optional[str] = SEX_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Write report.html / report.pdf from a results folder. With --pain/--arch/--sex the plan is rebuilt."""
    import json

    from .report import outputs
    from .report.writer import move_into, staging_dir

    try:
        folder = path.parent if path.suffix.lower() == ".json" else path
        result_file = folder / "result.json"
        if not result_file.is_file():
            raise ChainscanError(f"No result.json in {folder}; give a folder written by 'chainscan screen'.")
        try:
            result_dict = json.loads(result_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ChainscanError(f"{result_file} is not valid JSON; re-run 'chainscan screen'.") from None
        formats = outputs.parse_formats(format) or ("html",)
        plan_file = folder / "plan.json"
        rebuild = bool(pain or arch or sex) or not plan_file.is_file()
        if rebuild:
            write_plan, plan = outputs.plan_step(result_dict, _answers(pain, arch, sex))
        else:
            plan, write_plan = json.loads(plan_file.read_text(encoding="utf-8")), None
        dest = out or folder
        tmp = staging_dir(dest)
        try:
            if write_plan is not None:
                write_plan(tmp)
            outputs.report_step(formats, plan, result_dict, subject, source=folder)(tmp)
            files = move_into(tmp, dest)
        finally:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        if not quiet:
            typer.echo(f"Wrote {', '.join(f.name for f in files)} to {dest}.")
    except ChainscanError as e:
        _fail(e)


@app.command()
def batch(
    folder: Path = typer.Argument(..., help="Folder of clips (mp4, mov, m4v, avi, webm, mkv), each filmed from "
                                  "the front."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the results: one subfolder per clip and "
                             "summary.csv."),
    workers: int = typer.Option(0, "--workers", "-j", min=0,
                                help="Clips screened at the same time, one process each (default 0 = one per "
                                     "core; with --scheduler local, the cluster's processes)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Also screen the clips in subfolders."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Screen the clips that failed in an earlier "
                                      "run again (otherwise a re-run skips every finished clip)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Run on Dask: the address of a running scheduler "
                                                 "(tcp://host:8786) or 'local' (a local cluster of --workers "
                                                 "processes). Needs pip install \"chainscan\\[dask]\"."),
    test: TestChoice = TEST_OPT,
    side: SideChoice = SIDE_OPT,
    model: Optional[Path] = MODEL_OPT,
    max_fps: float = MAX_FPS_OPT,
    config: Optional[Path] = CONFIG_OPT,
    threshold: List[str] = THRESH_OPT,
    cutoff_hz: Optional[float] = CUTOFF_OPT,
    min_visibility: Optional[float] = VIS_OPT,
    max_gap_s: Optional[float] = GAP_OPT,
    report: str = REPORT_OPT,
    no_video: bool = NO_VIDEO_OPT,
    blur_faces: bool = BLUR_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Screen every clip in FOLDER: the same files as screen, one subfolder per clip, and one summary.csv.
    A re-run skips the clips already done (and the failed ones, unless --retry-failed), so an interrupted
    batch continues where it stopped. A clip that fails is reported and the batch goes on; the exit code
    is 1 if any clip failed."""
    import signal

    from .batch import run_batch
    from .run import ScreenOptions
    from .types import TestType

    n_done = 0

    def started(total: int, todo: int) -> None:
        if quiet:
            return
        where = "" if not todo else \
            f"on a local Dask cluster of {_workers(workers)} processes" if scheduler == "local" else \
            f"on the Dask cluster at {scheduler}" if scheduler else f"{min(_workers(workers), todo)} at a time"
        typer.echo(f"{total} clip(s) in {folder}: {total - todo} already done, {todo} to screen"
                   + (f" ({where})." if where else "."))

    def clip_done(done: int, todo: int, rec: dict) -> None:
        nonlocal n_done
        n_done = done
        if quiet:
            return
        took = f"{rec['processing_s']:.1f} s" if rec.get("processing_s") is not None else ""
        if rec["status"] == "ok":
            r = rec.get("result") or {}
            try:
                what = TestType(r.get("test")).label
            except ValueError:
                what = str(r.get("test", ""))
            count = f"{r.get('reps')} reps" if r.get("reps") else f"{r.get('stance_periods', 0)} stance period(s)"
            flags = r.get("flagged_findings") or "nothing flagged"
            typer.echo(f"[{done}/{todo}] ok      {rec['clip']} → {rec['folder']}/ ({what}, {count}; {flags}; {took})")
        else:
            typer.echo(f"[{done}/{todo}] FAILED  {rec['clip']}: {rec['message']}")

    def terminated(signum, frame):  # `kill` stops the batch like Ctrl-C: the worker processes too
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread
        previous = None
    try:
        opts = ScreenOptions(
            config=_config(config, threshold, cutoff_hz, min_visibility, max_gap_s), test=_test(test),
            side=_side(side), model_path=str(model) if model else None, max_fps=max_fps or None, workers=1,
            report_formats=_formats(report), write_video=not no_video, blur_faces=blur_faces)
        res = run_batch(folder, out, opts, workers=_workers(workers), recursive=recursive,
                        retry_failed=retry_failed, scheduler=scheduler, on_start=started, on_clip_done=clip_done)
    except ChainscanError as e:
        _fail(e)
    except KeyboardInterrupt:
        typer.echo(f"chainscan: interrupted; the {n_done} clip(s) finished in this run are kept — run the same "
                   "command again to screen the rest.", err=True)
        raise typer.Exit(130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    earlier = f" ({res.failed_earlier} in an earlier run: --retry-failed screens them again)" \
        if res.failed_earlier else ""
    line = (f"{res.screened} screened, {res.skipped} skipped (already done), {res.failed} failed{earlier} — "
            f"see {out / 'summary.csv'}")
    if not quiet:
        typer.echo(f"{line} ({res.elapsed_s:.0f} s).")
    elif res.failed:
        typer.echo(f"chainscan: {line}.", err=True)
    if res.failed:
        raise typer.Exit(1)


def _progress_bar(quiet: bool, label: str, stream, *, start: bool = True):
    """A terminal progress bar on stderr (nothing when quiet or not a terminal-friendly run): the callback
    and a stop function (safe to call more than once). ``start=False``: shown from its first update."""
    if quiet or not getattr(stream, "isatty", lambda: False)():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
                    TimeRemainingColumn(), console=Console(file=stream), transient=True)
    task = prog.add_task("frames", total=None)
    state = {"started": False, "stopped": False}

    def begin() -> None:
        if not state["started"]:
            state["started"] = True
            prog.start()

    def cb(done: int, total: int) -> None:
        if not state["stopped"]:
            begin()
            prog.update(task, completed=done, total=total or None)

    def stop() -> None:
        if state["started"] and not state["stopped"]:
            prog.stop()
        state["stopped"] = True

    if start:
        begin()
    return cb, stop


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chainscan {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """chainscan: screen knee valgus and pelvic drop from a frontal video. A screen, not a diagnosis."""


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("chainscan: interrupted; no results were written.", file=sys.stderr)
        sys.exit(130)
