"""Screen every clip in a folder: what ``chainscan batch`` does, as a library call.

* The clips are the video files in a folder (sorted; ``recursive`` for subfolders). Each clip's results go
  to ``OUTDIR/<its path without the extension>/`` (``_<ext>`` added when two clips share a name).
* Clips are screened in parallel, one spawned process per clip (``workers`` at a time), or on a Dask
  cluster (``scheduler``: an address such as ``tcp://host:8786``, or ``"local"``). Each clip goes through
  :func:`chainscan.run.screen_to_folder`, so it gets the very same files as ``chainscan screen``.
* Resuming: every clip gets a status record, ``OUTDIR/.chainscan-batch/status/<clip>.json`` (ok or failed,
  the message, the source's size and modification time, the screening settings, the summary numbers),
  written atomically once its results folder is complete. A re-run skips the clips whose record matches
  the file and the settings (failed ones too, unless ``retry_failed``), so an interrupted batch
  continues where it stopped.
* ``OUTDIR/summary.csv`` (one row per clip, every number with its unit in the column name) is rewritten
  atomically after every clip, so it is valid even when the batch is interrupted.
* A clip that cannot be screened (bad video, nobody in view, side view...) is recorded as failed with its
  one-sentence message and the batch goes on.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import multiprocessing.context
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import types
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .config import ScreeningConfig
from .errors import ChainscanError, PoseModelUnavailable
from .run import ScreenOptions

STATE_DIR = ".chainscan-batch"
SUMMARY_NAME = "summary.csv"
STATUS_VERSION = 1

#: screens one clip into ``out`` (a folder that does not exist yet) and returns its result.json dict
ScreenFn = Callable[[Path, Path, ScreenOptions], Mapping[str, Any]]
#: called after every clip: (clips finished in this run, clips to screen in this run, the clip's record)
ClipDone = Callable[[int, int, dict], None]

# finding code → one column per side? (asymmetry findings name the worse side, which varies)
_FINDINGS: tuple[tuple[str, bool, str], ...] = (
    ("knee_valgus", True, "deg"), ("knees_inward", False, "ratio"), ("knee_inside_foot", True, "shanklen"),
    ("knee_asymmetry", False, "deg"), ("pelvic_drop", True, "deg"), ("pelvic_drop_asymmetry", False, "deg"),
    ("trunk_lean", True, "deg"), ("balance_hold_short", True, "s"))
_UNIT_SUFFIX = {"deg": "deg", "ratio": "ratio", "shank lengths": "shanklen", "leg lengths": "leglen", "s": "s",
                "%": "pct", "px": "px"}
_SIDES = ("left", "right")


def _finding_columns(code: str, per_side: bool, unit: str) -> list[str]:
    stems = [f"{code}_{s}" for s in _SIDES] if per_side else [code]
    return [c for st in stems for c in (f"{st}_{unit}", f"{st}_severity")]


#: summary.csv columns (a finding unknown to this list gets its columns appended, sorted)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "clip", "status", "message", "results_folder", "test", "stance_side", "reps", "stance_periods",
    "clip_duration_s", "worst_knee_fppa_left_deg", "worst_knee_fppa_right_deg",
    *[c for code, per_side, unit in _FINDINGS for c in _finding_columns(code, per_side, unit)],
    "flagged_findings", "failed_quality_gates", "processing_time_s", "screened_at",
)


@dataclass(frozen=True)
class Clip:
    """One video of the batch: ``rel`` its path below the input folder, ``name`` its results folder below
    the output folder (both with "/" separators)."""

    source: Path
    rel: str
    name: str


@dataclass(frozen=True)
class ClipJob:
    """Everything a worker process (or a Dask worker) needs to screen one clip; picklable."""

    source: str
    rel: str
    name: str
    outdir: str
    options: dict[str, Any]       # ScreenOptions fields except config
    config: dict[str, Any]        # ScreeningConfig.to_dict()
    settings: str                 # fingerprint of the screening settings (status records)
    screen: ScreenFn | None = None  # default: screen_to_folder (tests put a fake in)

    def screen_options(self) -> ScreenOptions:
        return ScreenOptions(config=ScreeningConfig.from_dict(self.config), **self.options)


@dataclass
class BatchReport:
    """What a batch run did. ``records``: the latest record of every clip, in clip order (``None`` for a
    clip not screened yet, after an interruption)."""

    clips: list[Clip]
    records: dict[str, dict | None]
    screened: int = 0       # ok in this run
    skipped: int = 0        # ok in an earlier run, unchanged
    failed: int = 0         # failed, in this run or (not retried) an earlier one
    failed_earlier: int = 0
    summary: Path = Path(SUMMARY_NAME)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0


# ---------------------------------------------------------------------------------------------- finding clips

def find_clips(folder: str | os.PathLike, *, recursive: bool = False,
               exclude: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """(absolute path, path relative to ``folder``) of every video file in ``folder``, sorted. Hidden files
    and folders are left out, and so is ``exclude`` (the output folder when it lies inside)."""
    from .io.video import VIDEO_EXTENSIONS

    root = Path(folder)
    if not root.exists():
        raise ChainscanError(f"Folder not found: {root}; check the path.")
    if not root.is_dir():
        raise ChainscanError(f"{root} is a file, not a folder; give the folder that holds the clips "
                             "(or screen one clip with chainscan screen).")
    root = root.resolve()
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[tuple[Path, str]] = []
    has_subfolders = False
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            if d.startswith(".") or (skip is not None and (here / d) == skip):
                continue
            has_subfolders = True
            kept.append(d)
        dirnames[:] = kept if recursive else []
        for f in filenames:
            p = here / f
            if f.startswith(".") or p.suffix.lower() not in VIDEO_EXTENSIONS or not p.is_file():
                continue
            found.append((p, p.relative_to(root).as_posix()))
    if not found:
        where = "in it or its subfolders" if recursive else \
            "in it (add --recursive to look in its subfolders)" if has_subfolders else "in it"
        raise ChainscanError(f"{root} has no video files {where}; chainscan reads "
                             f"{', '.join(VIDEO_EXTENSIONS)}.")
    return sorted(found, key=lambda x: x[1])


def assign_names(rels: list[str], previous: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006
    """Results folder (relative to the output folder) for each clip: its path without the extension,
    plus ``_<ext>`` (then a number) when that is taken, e.g. a.mp4 → a, a.mov → a_mov. ``previous`` maps
    clips (also ones no longer present) to the folders an earlier run gave them: those stay as they were,
    so adding a clip never renames another clip's results."""
    taken: set[str] = set()
    prefixes: set[str] = {STATE_DIR, SUMMARY_NAME}

    def parents(name: str) -> list[str]:
        parts = name.split("/")
        return ["/".join(parts[:i]) for i in range(1, len(parts))]

    def free(name: str) -> bool:
        return name not in taken and name not in prefixes and not any(p in taken for p in parents(name))

    def take(name: str) -> None:
        taken.add(name)
        prefixes.update(parents(name))

    def candidates(rel: str) -> Iterator[str]:
        stem, _, ext = rel.rpartition(".")
        ext = ext.lower()
        yield from (stem, f"{stem}_{ext}", *(f"{stem}_{ext}_{i}" for i in range(2, 100)))
        flat = stem.replace("/", "_")  # a parent folder is some other clip's results folder
        yield from (flat, f"{flat}_{ext}")
        i = 2
        while True:
            yield f"{flat}_{ext}_{i}"
            i += 1

    present = set(rels)
    for rel in rels:  # a clip's folder must not be where a subfolder's clips go
        prefixes.update(parents(rel))
    names: dict[str, str] = {}
    for rel, name in sorted(previous.items()):
        if free(name):
            take(name)
            if rel in present:
                names[rel] = name
    for rel in rels:
        if rel not in names:
            names[rel] = next(c for c in candidates(rel) if free(c))
            take(names[rel])
    return names


# ------------------------------------------------------------------------------------------- status records

def settings_key(options: ScreenOptions) -> str:
    """A fingerprint of everything that changes a clip's results (not ``workers``)."""
    d: dict[str, Any] = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
                         if f.name not in ("config", "workers")}
    d["config"] = options.config.to_dict()
    text = json.dumps(d, sort_keys=True, default=lambda v: getattr(v, "value", str(v)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _status_path(outdir: Path, rel: str) -> Path:
    return outdir / STATE_DIR / "status" / f"{rel}.json"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_status(outdir: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    path = _status_path(Path(outdir), record["clip"])
    _write_atomic(path, json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False))
    return path


def load_statuses(outdir: str | os.PathLike) -> dict[str, dict]:
    """Every readable status record in ``outdir``, by clip."""
    root = Path(outdir) / STATE_DIR / "status"
    out: dict[str, dict] = {}
    if not root.is_dir():
        return out
    for p in sorted(root.rglob("*.json")):
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("version") == STATUS_VERSION and isinstance(rec.get("clip"), str) \
                and isinstance(rec.get("folder"), str):
            out[rec["clip"]] = rec
    return out


def is_done(record: Mapping[str, Any] | None, source: Path, outdir: Path, settings: str, *,
            retry_failed: bool = False) -> bool:
    """True when ``record`` is a finished screening of ``source`` as it is now, with these settings."""
    if not record or record.get("settings") != settings:
        return False
    try:
        st = source.stat()
    except OSError:
        return False
    if record.get("size_bytes") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
        return False
    if record.get("status") == "ok":
        return (outdir / record["folder"] / "result.json").is_file()
    return record.get("status") == "failed" and not retry_failed


# ------------------------------------------------------------------------------------------ one clip (worker)

_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_stack: contextlib.ExitStack | None = None


@contextlib.contextmanager
def _native_logs_quiet() -> Iterator[None]:
    """quiet_native_logs for the whole process while any clip runs in it (a Dask worker may run several
    in threads: fd 2 is redirected once and restored when the last one ends)."""
    global _quiet_users, _quiet_stack
    from .io.pose import quiet_native_logs

    with _quiet_lock:
        if _quiet_users == 0:
            stack = contextlib.ExitStack()
            stack.enter_context(quiet_native_logs())
            _quiet_stack = stack
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0 and _quiet_stack is not None:
                _quiet_stack.close()
                _quiet_stack = None


def _screen(video: Path, out: Path, options: ScreenOptions) -> Mapping[str, Any]:
    from .run import screen_to_folder

    result, _ = screen_to_folder(video, out, options)
    return result.to_dict()


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def _swap_in(new: Path, final: Path) -> None:
    """Put the complete results folder ``new`` at ``final`` (replacing an older one) by renames."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() or final.is_symlink():
        old = new.with_name(new.name + "-old")
        os.replace(final, old)
        os.replace(new, final)
        _remove(old)
    else:
        os.replace(new, final)


def _now() -> str:
    from .result import now_iso

    return now_iso()


def run_clip(job: ClipJob) -> dict:
    """Screen one clip into ``outdir/name`` and write its status record; returns the record.

    Runs in a worker process (or on a Dask worker). Never raises for a clip that cannot be screened:
    the record says ``failed`` with the reason. The results folder is built in
    ``outdir/.chainscan-batch/work/`` and renamed into place only when complete.
    """
    from .io.video import check_video_path

    t0 = time.perf_counter()
    outdir = Path(job.outdir)
    source = Path(job.source)
    record: dict[str, Any] = {
        "version": STATUS_VERSION, "clip": job.rel, "source": job.source, "folder": job.name,
        "settings": job.settings, "status": "failed", "message": "", "error": "", "size_bytes": None,
        "mtime_ns": None, "started": _now(), "host": socket.gethostname(), "chainscan_version": __version__,
        "result": {}, "failed_gates": [],
    }
    work = outdir / STATE_DIR / "work" / uuid.uuid4().hex
    try:
        st = source.stat()  # taken before screening: a file changed meanwhile is screened again next run
        record.update(size_bytes=st.st_size, mtime_ns=st.st_mtime_ns)
        check_video_path(source)
        with _native_logs_quiet():
            result = (job.screen or _screen)(source, work, job.screen_options())
        _swap_in(work, outdir / job.name)
        record.update(status="ok", result=result_columns(result))
    except ChainscanError as e:
        record.update(message=str(e), error=type(e).__name__,
                      failed_gates=[_gate_text(g) for g in getattr(e, "gates", []) if not _gate_passed(g)])
    except OSError as e:
        record.update(message=f"{source.name} cannot be read or its results written ({e.strerror or e}).",
                      error=type(e).__name__)
    except Exception as e:  # noqa: BLE001 - one clip's bug must not stop the batch
        record.update(message=f"Unexpected error ({type(e).__name__}: {e}); please report it with this clip.",
                      error=type(e).__name__)
    finally:
        _remove(work)
    record.update(finished=_now(), processing_s=round(time.perf_counter() - t0, 2))
    if record["error"] != PoseModelUnavailable.__name__:  # not the clip's fault: the batch stops instead
        write_status(outdir, record)
    return record


def _gate_passed(g: Any) -> bool:
    return bool(g.get("passed") if isinstance(g, Mapping) else getattr(g, "passed", True))


def _gate_text(g: Any) -> str:
    name = g.get("gate") if isinstance(g, Mapping) else getattr(g, "gate", "?")
    blocking = g.get("blocking") if isinstance(g, Mapping) else getattr(g, "blocking", False)
    return f"{name} (blocking)" if blocking else str(name)


# -------------------------------------------------------------------------------------------- summary.csv

def _unit_suffix(unit: str) -> str:
    return _UNIT_SUFFIX.get(unit) or "".join(c if c.isalnum() else "_" for c in unit.lower()).strip("_") or "value"


def result_columns(result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary.csv columns a result.json dict gives (see SUMMARY_COLUMNS)."""
    row: dict[str, Any] = {
        "test": result.get("test", ""), "stance_side": result.get("stance_side") or "",
        "reps": len(result.get("reps") or []), "stance_periods": len(result.get("stance_periods") or []),
        "clip_duration_s": (result.get("source") or {}).get("duration_s"),
    }
    segments = list(result.get("reps") or []) + list(result.get("stance_periods") or [])
    for side in _SIDES:
        vals = [s[side]["knee_fppa_deg"] for s in segments
                if isinstance(s.get(side), Mapping) and s[side].get("knee_fppa_deg") is not None]
        row[f"worst_knee_fppa_{side}_deg"] = max(vals) if vals else None
    per_side = {code: ps for code, ps, _ in _FINDINGS}
    flagged = []
    for f in result.get("findings") or []:
        code, side = f.get("code", "finding"), f.get("side")
        stem = f"{code}_{side}" if side and per_side.get(code, True) else code
        row[f"{stem}_{_unit_suffix(f.get('unit', ''))}"] = f.get("value")
        row[f"{stem}_severity"] = f.get("severity", "")
        if f.get("severity") in ("mild", "marked"):
            flagged.append(f"{code}{' ' + side if side else ''} ({f['severity']})")
    row["flagged_findings"] = "; ".join(flagged)
    row["failed_quality_gates"] = "; ".join(_gate_text(g) for g in result.get("quality") or []
                                            if not _gate_passed(g))
    return row


def summary_row(clip: Clip, record: Mapping[str, Any] | None) -> dict[str, Any]:
    if record is None:
        return {"clip": clip.rel, "status": "pending", "message": "not screened yet"}
    row: dict[str, Any] = {"clip": clip.rel, "status": record.get("status", ""), "message": record.get("message", "")}
    if record.get("status") == "ok":
        row["results_folder"] = record.get("folder", "")
        row.update(record.get("result") or {})
    else:
        row["failed_quality_gates"] = "; ".join(record.get("failed_gates") or [])
    row["processing_time_s"] = record.get("processing_s")
    row["screened_at"] = record.get("finished", "")
    return row


def write_summary(path: Path, clips: list[Clip], records: Mapping[str, dict | None]) -> None:
    """summary.csv: one row per clip, in clip order; replaced atomically."""
    rows = [summary_row(c, records.get(c.rel)) for c in clips]
    extra = sorted({k for r in rows for k in r} - set(SUMMARY_COLUMNS))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*SUMMARY_COLUMNS, *extra], restval="", extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    _write_atomic(path, buf.getvalue())


class _Summary:
    """summary.csv, rewritten after every clip; in a batch of thousands of short clips, where one rewrite
    takes a while, at most often enough that rewriting costs about a tenth of the time (and always at
    the end, interrupted or not)."""

    def __init__(self, path: Path, clips: list[Clip], records: Mapping[str, dict | None]) -> None:
        self.path, self.clips, self.records = path, clips, records
        self.last, self.cost, self.behind = 0.0, 0.0, False

    def write(self, soon: bool = False) -> None:
        t = time.perf_counter()
        if soon and t - self.last < 10 * self.cost:
            self.behind = True
            return
        write_summary(self.path, self.clips, self.records)
        self.last, self.behind = time.perf_counter(), False
        self.cost = self.last - t

    def write_if_behind(self) -> None:
        if self.behind:
            self.write()


# ------------------------------------------------------------------------------------------------ the batch

@contextlib.contextmanager
def _batch_lock(state: Path) -> Iterator[None]:
    """One batch at a time per output folder (the work area is cleared at the start)."""
    state.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(state / "lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ChainscanError(f"Another chainscan batch is writing to {state.parent}; wait for it to finish "
                                 "or choose another --out.") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_batch(folder: str | os.PathLike, out: str | os.PathLike, options: ScreenOptions | None = None, *,
              workers: int | None = None, recursive: bool = False, retry_failed: bool = False,
              scheduler: str | None = None, on_clip_done: ClipDone | None = None,
              on_start: Callable[[int, int], None] | None = None, screen: ScreenFn | None = None) -> BatchReport:
    """Screen every clip in ``folder`` into ``out`` (see the module doc). ``workers``: clips at a time
    (default one per core; the Dask ``"local"`` cluster's size). ``on_start(total, to_screen)`` and
    ``on_clip_done`` report progress. Raises ChainscanError for a missing/empty folder, an unusable output
    folder or pose model, or an unreachable Dask scheduler; KeyboardInterrupt stops the running clips
    (finished ones stay finished, summary.csv stays valid).

    The worker processes are started with multiprocessing's "spawn" without importing the caller's main
    module (a Streamlit page, a notebook or a script without a ``__main__`` guard is not run again in
    every worker); a ``screen`` function must therefore live in an importable module.
    """
    from .extract import default_workers

    t0 = time.perf_counter()
    opts = dataclasses.replace(options or ScreenOptions(), workers=1)
    n_workers = workers if workers and workers > 0 else default_workers()
    outdir = Path(out)
    if outdir.exists() and not outdir.is_dir():
        raise ChainscanError(f"--out {outdir} is a file; give a folder to write the results into.")
    if scheduler:
        _need_dask()
    found = find_clips(folder, recursive=recursive, exclude=outdir)
    if opts.model_path and not Path(opts.model_path).is_file():
        raise PoseModelUnavailable(f"Pose model not found: {opts.model_path}; check the --model path.")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        outdir = outdir.resolve()
        state = outdir / STATE_DIR
        state.mkdir(exist_ok=True)
    except OSError as e:
        raise ChainscanError(f"Cannot write results to {outdir} ({e.strerror}); choose a folder you can "
                             "write to.") from None
    try:
        return _run_locked(found, outdir, opts, t0, n_workers, retry_failed, scheduler, on_clip_done, on_start,
                           screen)
    except OSError as e:  # summary.csv or a status record (a clip's own files fail only that clip)
        raise ChainscanError(f"Cannot write to {outdir} ({e.strerror or e}); check the free space and "
                             "permissions, then run the same command again.") from None


def _run_locked(found: list[tuple[Path, str]], outdir: Path, opts: ScreenOptions, t0: float, n_workers: int,
                retry_failed: bool, scheduler: str | None, on_clip_done: ClipDone | None,
                on_start: Callable[[int, int], None] | None, screen: ScreenFn | None) -> BatchReport:
    state = outdir / STATE_DIR
    with _batch_lock(state):
        _remove(state / "work")  # leftovers of a killed run
        previous = load_statuses(outdir)
        names = assign_names([rel for _, rel in found], {r: rec["folder"] for r, rec in previous.items()})
        clips = [Clip(src, rel, names[rel]) for src, rel in found]
        key = settings_key(opts)
        records: dict[str, dict | None] = {}
        todo: list[Clip] = []
        report = BatchReport(clips, records, summary=outdir / SUMMARY_NAME)
        for c in clips:
            rec = previous.get(c.rel)
            if rec is not None and rec["folder"] == c.name and \
                    is_done(rec, c.source, outdir, key, retry_failed=retry_failed):
                records[c.rel] = rec
            else:
                records[c.rel] = None
                todo.append(c)
        summary = _Summary(report.summary, clips, records)
        summary.write()
        if on_start:
            on_start(len(clips), len(todo))
        fields = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts) if f.name != "config"}
        jobs = [ClipJob(str(c.source), c.rel, c.name, str(outdir), fields, opts.config.to_dict(), key, screen)
                for c in todo]
        done = 0

        def finished(rec: dict) -> None:
            nonlocal done
            if rec.get("error") == PoseModelUnavailable.__name__:
                raise PoseModelUnavailable(rec["message"])
            if rec.get("status") == "ok" and not (outdir / rec["folder"] / "result.json").is_file():
                rec = {**rec, "status": "failed", "error": "NotShared", "result": {}, "message": (
                    f"The results were written on {rec.get('host')} but are not in {outdir}; the output folder "
                    "must be on a file system every Dask worker shares, at the same path.")}
                write_status(outdir, rec)
            records[rec["clip"]] = rec
            done += 1
            summary.write(soon=True)
            if on_clip_done:
                on_clip_done(done, len(jobs), rec)

        try:
            if jobs and scheduler:
                _run_dask(jobs, scheduler, n_workers, finished)
            elif jobs:
                _run_local(jobs, min(n_workers, len(jobs)), finished)
        finally:
            summary.write_if_behind()
        screened_now = {j.rel for j in jobs}
        for c in clips:
            rec = records.get(c.rel)
            if rec is None:
                continue
            if rec.get("status") == "ok":
                if c.rel in screened_now:
                    report.screened += 1
                else:
                    report.skipped += 1
            else:
                report.failed += 1
                report.failed_earlier += c.rel not in screened_now
        report.elapsed_s = time.perf_counter() - t0
        return report


def _crash_record(job: ClipJob, message: str) -> dict:
    rec: dict[str, Any] = {
        "version": STATUS_VERSION, "clip": job.rel, "source": job.source, "folder": job.name,
        "settings": job.settings, "status": "failed", "message": message, "error": "WorkerCrash",
        "size_bytes": None, "mtime_ns": None, "started": "", "finished": _now(), "processing_s": None,
        "host": socket.gethostname(), "chainscan_version": __version__, "result": {}, "failed_gates": [],
    }
    with contextlib.suppress(OSError):
        st = Path(job.source).stat()
        rec.update(size_bytes=st.st_size, mtime_ns=st.st_mtime_ns)
    write_status(job.outdir, rec)
    return rec


_CRASHED = ("The screening process stopped unexpectedly while screening this clip on its own (out of memory, or a "
            "crash in the pose model); check it with chainscan screen.")


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the batch, which stops them (a terminal sends it to all)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(ex: ProcessPoolExecutor) -> None:
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(10)


def _poke(ex: ProcessPoolExecutor) -> None:
    """Make the pool look at its processes again. CPython's ProcessPoolExecutor (3.9–3.12) watches only
    the processes that existed when its manager thread last woke up; a process spawned after that can die
    unnoticed until another clip ends (or forever, if none is running)."""
    wakeup = getattr(ex, "_executor_manager_thread_wakeup", None)
    lock = getattr(ex, "_shutdown_lock", None)
    if wakeup is None or lock is None:
        return
    with lock, contextlib.suppress(Exception):
        if not getattr(ex, "_broken", False) and not getattr(ex, "_shutdown_thread", False):
            wakeup.wakeup()


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """While processes are spawned, show multiprocessing a ``__main__`` with neither a spec nor a file, so
    the children do not import the parent's main module. That module is not always a script that is
    safe to run again: under Streamlit it is the dashboard page (or, after an AppTest, a temporary
    script that no longer exists), in a notebook it has no file at all."""
    with _MAIN_LOCK:
        real = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if real is not None:
                sys.modules["__main__"] = real


class _SpawnProcess(multiprocessing.context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj):  # noqa: N802 - multiprocessing's name
        with _main_hidden():
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _SpawnContext(multiprocessing.context.SpawnContext):
    """multiprocessing's "spawn" (MediaPipe must not be forked) minus the re-import of ``__main__``."""

    Process = _SpawnProcess


def _run_local(jobs: list[ClipJob], workers: int, finished: Callable[[dict], None]) -> None:
    """``workers`` clips at a time, each in its own spawned process (MediaPipe must not be forked).

    A process that dies (out of memory, a crash in native code) breaks the pool and takes the clips
    running beside it along. When several were running, which one was to blame is not known: they are
    screened again, one at a time. A clip whose process died while no other clip was running is
    recorded as failed.
    """
    ctx = _SpawnContext()
    work = Path(jobs[0].outdir) / STATE_DIR / "work"

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_ignore_sigint)

    pending = deque(jobs)
    suspects: deque[ClipJob] = deque()  # were running when a process died: screened again, alone
    running: dict[Future, ClipJob] = {}
    ex = new_pool()
    try:
        while pending or suspects or running:
            queue, limit = (suspects, 0 if running else 1) if suspects else (pending, workers)
            pool_broken = False
            while queue and len(running) < limit:
                job = queue.popleft()
                try:
                    running[ex.submit(run_clip, job)] = job
                except BrokenProcessPool:  # a process died since the last clip ended
                    queue.appendleft(job)
                    pool_broken = True
                    break
            broken: list[ClipJob] = []
            if running:
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                if not done:
                    _poke(ex)
                for fut in done:
                    job = running.pop(fut)
                    try:
                        rec = fut.result()
                    except BrokenProcessPool:
                        broken.append(job)
                        continue
                    except Exception as e:  # noqa: BLE001 - e.g. a job that cannot be sent to the worker
                        rec = _crash_record(job, f"The clip could not be handed to a worker process ({e}).")
                    finished(rec)
            if not (broken or pool_broken):
                continue
            for fut, job in list(running.items()):  # the pool is unusable: collect the rest of its clips
                try:
                    finished(fut.result())
                except BrokenProcessPool:
                    broken.append(job)
            running.clear()
            _stop_pool(ex)
            _remove(work)  # what the dead processes were writing
            ex = new_pool()
            if len(broken) == 1:  # the only clip in flight when the process died
                finished(_crash_record(broken[0], _CRASHED))
            else:
                suspects.extend(broken)
    except BaseException:
        _stop_pool(ex)
        _remove(work)  # what the stopped processes were writing
        raise
    ex.shutdown(wait=True)


def _dask_worker_version() -> str:
    return __version__


def _need_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ChainscanError('--scheduler needs Dask, which is not installed; install it with '
                             'pip install "chainscan[dask]".') from None


def _run_dask(jobs: list[ClipJob], scheduler: str, workers: int, finished: Callable[[dict], None]) -> None:
    """The same per-clip function on a Dask cluster: ``scheduler`` = an address (tcp://host:8786) or
    "local" (a LocalCluster of ``workers`` processes with one thread each)."""
    _need_dask()
    import logging

    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            with _main_hidden():  # the nannies spawn their workers while the cluster starts
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="15s"))
            except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, a bad address...
                raise ChainscanError(f"Cannot connect to the Dask scheduler at {scheduler} ({e}); start it with "
                                     "dask scheduler and check the address.") from None
        try:
            client.wait_for_workers(1, timeout=30)
        except Exception:  # noqa: BLE001 - TimeoutError
            raise ChainscanError(f"No Dask worker is connected to {scheduler}; start dask worker "
                                 f"{scheduler} on each machine.") from None
        try:
            versions = set(client.run(_dask_worker_version).values())
        except Exception:  # noqa: BLE001 - chainscan cannot be imported on a worker
            raise ChainscanError("chainscan is not installed on every Dask worker; install the same chainscan "
                                 "on each worker machine.") from None
        if versions - {__version__}:
            raise ChainscanError(f"The Dask workers run chainscan {', '.join(sorted(versions))}, this machine "
                                 f"{__version__}; install the same version everywhere.")
        futures = {client.submit(run_clip, job, pure=False, key=f"chainscan-clip-{uuid.uuid4().hex}"): job
                   for job in jobs}
        try:
            for fut in as_completed(list(futures)):
                job = futures[fut]
                try:
                    rec = fut.result()
                except Exception as e:  # noqa: BLE001 - KilledWorker (the worker died), a lost connection...
                    rec = _crash_record(job, f"The Dask worker could not screen this clip ({type(e).__name__}: "
                                             f"{e}).")
                finished(rec)
        except BaseException:
            client.cancel(list(futures))
            raise
