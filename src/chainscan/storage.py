"""Screening history: one row per saved screening, its headline metrics and its files.

A SQLite file by default (``~/.local/share/chainscan/history.db``); the same code runs on a shared
PostgreSQL server given a URL (``postgresql+psycopg://user:password@host/db``). The location comes
from ``open_storage(url)``, else the ``CHAINSCAN_DB`` environment variable (a URL or a plain path to a
SQLite file), else the default. Nothing is created at import; folders are made when storage opens.

Files (report, annotated video, pose.npz, …) are copied into one folder per screening under the
files folder: ``open_storage(files_dir=…)``, else ``CHAINSCAN_FILES``, else ``files/`` next to the
SQLite file (``~/.local/share/chainscan/files`` for a server database).

Every method takes the ``owner`` (the logged-in clinician) and only ever touches that owner's rows:
another owner's screening is reported as not found, exactly like one that does not exist.

Headline metrics (for progress charts) are stored per screening under keys ``<metric>.<side>``
(``knee_fppa_deg.left``, ``pelvic_drop_deg.right``, ``hold_s.right``, …) or ``<metric>`` for whole-body
checks (``knee_separation_ratio``); units follow the name suffix (see :func:`metric_unit`).
"""

from __future__ import annotations

import builtins
import datetime as _dt
import json
import math
import os
import re
import shutil
import statistics
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from .errors import ChainscanError

#: version of the tables below; bump (and migrate) when they change
SCHEMA_VERSION = 1

ENV_DB = "CHAINSCAN_DB"
ENV_FILES = "CHAINSCAN_FILES"
_SIDES = ("left", "right")
_FLAGGED = ("mild", "marked")


class StorageError(ChainscanError):
    """The screening history cannot be opened, read or written."""


class NotFound(StorageError):
    """No screening with that id belongs to this owner."""


class Flag(NamedTuple):
    """A flagged finding as listed in the history: ``code`` (e.g. ``knee_valgus``), ``side``
    (``left``/``right``/None) and ``severity`` (``mild``/``marked``)."""

    code: str
    side: str | None
    severity: str


@dataclass(frozen=True)
class ScreeningRecord:
    """One stored screening.

    ``created`` is timezone-aware (UTC); ``metrics`` maps ``<metric>.<side>`` to a number (see the
    module docstring); ``result`` is the full result.json dict; ``files`` maps each stored file's name
    to its path on this machine; ``flagged`` lists the findings with severity mild or marked.
    """

    id: int
    owner: str
    label: str
    notes: str
    created: _dt.datetime
    test: str
    stance_side: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    flagged: tuple[Flag, ...] = ()


# --------------------------------------------------------------------------------------- schema
_md = sa.MetaData()

meta_table = sa.Table(
    "meta", _md,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

screenings_table = sa.Table(
    "screenings", _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(320), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("notes", sa.Text, nullable=False, default=""),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("test", sa.String(40), nullable=False),
    sa.Column("stance_side", sa.String(10), nullable=True),
    sa.Column("flagged", sa.Text, nullable=False),       # JSON list of [code, side, severity]
    sa.Column("result", sa.Text, nullable=False),        # the full result.json
    sa.Column("files_dir", sa.String(64), nullable=True),  # folder name under the files folder
    sa.Index("ix_screenings_owner_label_created", "owner", "label", "created"),
    sqlite_autoincrement=True,  # never reuse a deleted screening's id
)

metrics_table = sa.Table(
    "screening_metrics", _md,
    sa.Column("screening_id", sa.Integer, sa.ForeignKey("screenings.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)

files_table = sa.Table(
    "screening_files", _md,
    sa.Column("screening_id", sa.Integer, sa.ForeignKey("screenings.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("filename", sa.String(255), nullable=False),
)


# ------------------------------------------------------------------------------------ metrics
def _finite(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def headline_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The numbers a progress chart compares across sessions, from a result.json dict.

    Every evaluated finding contributes its value as ``<metric>.<side>`` (or ``<metric>``), so the
    history shows exactly what the report showed. Where no finding covers it: per side, the knee FPPA
    mean over reps (the stance leg's reps in single-leg squats), the pelvic drop and ipsilateral trunk
    lean mean over reps (median over stance periods), and from ``balance`` the longest hold
    (``hold_s``) and total time on the leg (``total_s``). Unknown values are left out.
    """
    out: dict[str, float] = {}
    segments = [("rep", r) for r in result.get("reps") or []] + \
               [("period", p) for p in result.get("stance_periods") or []]
    for side in _SIDES:
        fppa = [v for _, r in segments if r.get("side") in (None, side)
                if (v := _finite((r.get(side) or {}).get("knee_fppa_deg"))) is not None]
        if (m := _mean(fppa)) is not None:
            out[f"knee_fppa_deg.{side}"] = m
        for key in ("pelvic_drop_deg", "trunk_lean_ipsi_deg"):
            reps = [v for kind, r in segments if kind == "rep" and r.get("side") == side
                    if (v := _finite(r.get(key))) is not None]
            periods = [v for kind, r in segments if kind == "period" and r.get("side") == side
                       if (v := _finite(r.get(key))) is not None]
            value = round(statistics.median(periods), 2) if periods else _mean(reps)
            if value is not None:
                out[f"{key}.{side}"] = value
    for b in result.get("balance") or []:
        side = b.get("side")
        for key in ("hold_s", "total_s"):
            if side in _SIDES and (v := _finite(b.get(key))) is not None:
                out[f"{key}.{side}"] = v
    for f in result.get("findings") or []:
        metric, value = f.get("metric"), _finite(f.get("value"))
        if metric and value is not None:
            out[f"{metric}.{f['side']}" if f.get("side") else str(metric)] = value
    return out


def flagged_findings(result: Mapping[str, Any]) -> tuple[Flag, ...]:
    """The findings of a result.json dict with severity mild or marked."""
    return tuple(Flag(str(f["code"]), f.get("side"), str(f["severity"]))
                 for f in result.get("findings") or [] if f.get("severity") in _FLAGGED and f.get("code"))


_UNIT_SUFFIXES = (("_deg", "°"), ("_s", "s"), ("_ratio", "ratio"), ("_shanklen", "shank lengths"),
                  ("_leglen", "leg lengths"), ("_px", "px"))


def metric_unit(metric: str) -> str:
    """The unit of a stored metric key (``knee_fppa_deg.left`` → ``°``), from its name's suffix; ``""``
    when unknown. ``knee_over_foot`` is in shank lengths (its finding drops the suffix)."""
    base = metric.split(".", 1)[0]
    if base == "knee_over_foot":
        return "shank lengths"
    return next((unit for suffix, unit in _UNIT_SUFFIXES if base.endswith(suffix)), "")


# ------------------------------------------------------------------------------- opening
def default_db_path() -> Path:
    """``$XDG_DATA_HOME/chainscan/history.db`` (``~/.local/share/chainscan/history.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "chainscan" / "history.db"


def _resolve_url(url: str | None) -> URL:
    raw = url if url is not None else os.environ.get(ENV_DB, "").strip() or None
    if raw is None:
        return URL.create("sqlite", database=str(default_db_path()))
    if "://" not in raw:  # a plain path to a SQLite file
        return URL.create("sqlite", database=str(Path(raw).expanduser().absolute()))
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StorageError(f"The screening database address {raw.split('://')[0]}://… is not a valid URL: use a "
                           "path to a SQLite file or postgresql+psycopg://user:password@host/database.") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StorageError(f"The screening database must be SQLite or PostgreSQL, not "
                           f"'{parsed.get_backend_name()}': use a path to a SQLite file or "
                           "postgresql+psycopg://user:password@host/database.")
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StorageError("An in-memory SQLite database would lose every screening: give a file path "
                               "such as sqlite:////home/me/chainscan/history.db.")
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().absolute()))
    return parsed


def _make_dir(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"Cannot create the {what} folder {path} ({e.strerror or e}): choose a writable "
                           f"location with {ENV_DB if what == 'database' else ENV_FILES}.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StorageError(f"The {what} folder {path} is not writable: fix its permissions or choose another "
                           f"location with {ENV_DB if what == 'database' else ENV_FILES}.")


_OPEN: dict[tuple[str, str], Storage] = {}
_OPEN_LOCK = threading.Lock()


def open_storage(url: str | None = None, files_dir: str | Path | None = None) -> Storage:
    """Open (creating if needed) the screening history; opening the same place again returns the same
    :class:`Storage` (cheap to call on every Streamlit rerun).

    ``url``: a SQLAlchemy URL (``sqlite:////abs/path.db``, ``postgresql+psycopg://user:pw@host/db``) or a
    plain path to a SQLite file; default ``CHAINSCAN_DB``, else ``~/.local/share/chainscan/history.db``.
    ``files_dir``: where screenings' files are copied; default ``CHAINSCAN_FILES``, else ``files/`` next to
    the SQLite file (``~/.local/share/chainscan/files`` for a server database).
    Raises :class:`StorageError` with what to do when the database or a folder cannot be used.
    """
    db_url = _resolve_url(url)
    is_sqlite = db_url.get_backend_name() == "sqlite"
    if files_dir is None:
        files_dir = os.environ.get(ENV_FILES, "").strip() or None
    if files_dir is None:
        base = Path(db_url.database).parent if is_sqlite and db_url.database else default_db_path().parent
        files_root = base / "files"
    else:
        files_root = Path(files_dir).expanduser().absolute()
    key = (db_url.render_as_string(hide_password=False), str(files_root))
    with _OPEN_LOCK:
        if key in _OPEN:
            return _OPEN[key]
        if is_sqlite and db_url.database:
            _make_dir(Path(db_url.database).parent, "database")
        _make_dir(files_root, "files")
        _OPEN[key] = store = _connect(db_url, files_root)
        store._key = key
        return store


def _connect(db_url: URL, files_root: Path) -> Storage:
    is_sqlite = db_url.get_backend_name() == "sqlite"

    shown = db_url.render_as_string(hide_password=True)
    try:
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}} if is_sqlite else {"pool_pre_ping": True}
        engine = sa.create_engine(db_url, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as e:
        hint = "pip install 'psycopg[binary]'" if db_url.get_backend_name() == "postgresql" else "install its driver"
        raise StorageError(f"The database driver for {db_url.drivername} is not installed ({e}): {hint}.") from None
    try:
        _create_schema(engine)
    except StorageError:
        engine.dispose()
        raise
    except DBAPIError as e:
        engine.dispose()
        reason = str(e.orig).strip().splitlines()[0] if e.orig is not None else type(e).__name__
        raise StorageError(f"Cannot open the screening database {shown} ({reason}): check that it is reachable "
                           f"and writable, or set {ENV_DB} to another location.") from None
    return Storage(engine, files_root, shown)


def _create_schema(engine: Engine) -> None:
    _md.create_all(engine)
    with engine.begin() as conn:
        row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            except IntegrityError:  # another process created it at the same moment
                pass
            return
        try:
            version = int(row.value)
        except ValueError:
            version = -1
        if version != SCHEMA_VERSION:
            raise StorageError(f"The screening database has schema version {row.value} but this chainscan reads "
                               f"version {SCHEMA_VERSION}: use a matching chainscan version or another "
                               f"{ENV_DB}.")


# ------------------------------------------------------------------------------ the store
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_filename(name: str, taken: set[str]) -> str:
    stem = _SAFE.sub("_", Path(name).name).lstrip(".")[:120] or "file"
    candidate, n = stem, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{n}-{stem}"
    taken.add(candidate.lower())
    return candidate


def _created_from(result: Mapping[str, Any]) -> _dt.datetime:
    raw = result.get("created")
    when = None
    if isinstance(raw, str) and raw:
        try:
            when = _dt.datetime.fromisoformat(raw)
        except ValueError:
            when = None
    if when is None:
        when = _dt.datetime.now(_dt.timezone.utc)
    if when.tzinfo is None:
        when = when.astimezone()  # a naive time is this machine's local time
    return when.astimezone(_dt.timezone.utc)


def _utc(value: _dt.datetime) -> _dt.datetime:
    # SQLite keeps no time zone: everything is written in UTC, so a naive value read back is UTC
    return value.replace(tzinfo=_dt.timezone.utc) if value.tzinfo is None else value.astimezone(_dt.timezone.utc)


class Storage:
    """The screening history of every owner; each method sees only the given owner's screenings.
    Make one with :func:`open_storage`. Safe to share between Streamlit sessions (threads)."""

    def __init__(self, engine: Engine, files_dir: Path, url: str) -> None:
        self._engine = engine
        self.files_dir = files_dir
        self.url = url  # password hidden
        self._key: tuple[str, str] = ("", "")

    def __repr__(self) -> str:
        return f"Storage({self.url!r}, files_dir={str(self.files_dir)!r})"

    def close(self) -> None:
        """Release the database connections; a later :func:`open_storage` opens afresh."""
        with _OPEN_LOCK:
            if _OPEN.get(self._key) is self:
                del _OPEN[self._key]
        self._engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            raise StorageError(f"The screening database {self.url} failed ({reason}): check that it is "
                               "reachable and writable, then try again.") from e

    # ---- writing
    def save(self, *, owner: str, label: str, notes: str = "", result: Mapping[str, Any],
             files: Mapping[str, str | os.PathLike[str]] | None = None) -> int:
        """Store one screening for ``owner`` under the person/patient ``label`` and return its id.

        ``result`` is the result.json dict; ``files`` maps a name (shown for download, e.g.
        ``report.pdf``) to a file to copy. All or nothing: when a file is missing or a copy or the
        database write fails, no row and no folder are left behind.
        """
        owner, label = _require(owner, "owner"), _require(label, "label")
        if not isinstance(result, Mapping) or not isinstance(result.get("test"), str):
            raise StorageError("The result to save has no 'test' field: pass the dict from "
                               "ScreeningResult.to_dict() (the result.json contents).")
        try:
            result_json = json.dumps(result, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise StorageError(f"The result cannot be stored as JSON ({e}): pass the dict from "
                               "ScreeningResult.to_dict().") from None
        sources: dict[str, Path] = {}
        for name, src in (files or {}).items():
            path = Path(src)
            if not str(name).strip():
                raise StorageError("A file to save has an empty name: give every file a name such as report.pdf.")
            if not path.is_file():
                raise StorageError(f"The file to save as '{name}' does not exist ({path}): "
                                   "create it first or leave it out.")
            sources[str(name)] = path

        folder_name = uuid.uuid4().hex if sources else None
        staging = self.files_dir / f".incoming-{uuid.uuid4().hex}"
        final = self.files_dir / folder_name if folder_name else None
        moved = False
        try:
            stored: dict[str, str] = {}
            if sources:
                _make_dir(self.files_dir, "files")
                staging.mkdir()
                taken: set[str] = set()
                for name, src in sources.items():
                    stored[name] = _safe_filename(name, taken)
                    shutil.copyfile(src, staging / stored[name])
            with self._tx() as conn:
                inserted = conn.execute(screenings_table.insert().values(
                    owner=owner, label=label, notes=notes or "", created=_created_from(result),
                    test=result["test"], stance_side=result.get("stance_side"),
                    flagged=json.dumps([list(f) for f in flagged_findings(result)]),
                    result=result_json, files_dir=folder_name,
                )).inserted_primary_key
                assert inserted is not None
                sid = int(inserted[0])
                metrics = headline_metrics(result)
                if metrics:
                    conn.execute(metrics_table.insert(), [{"screening_id": sid, "name": k, "value": v}
                                                          for k, v in metrics.items()])
                if stored:
                    conn.execute(files_table.insert(), [{"screening_id": sid, "name": k, "filename": v}
                                                        for k, v in stored.items()])
                if final is not None:
                    os.replace(staging, final)  # same folder: an atomic rename, before the commit
                    moved = True
        except OSError as e:
            shutil.rmtree(final if moved and final else staging, ignore_errors=True)
            raise StorageError(f"Cannot copy the screening's files into {self.files_dir} ({e.strerror or e}): "
                               f"check free space and permissions, or set {ENV_FILES}.") from None
        except BaseException:
            shutil.rmtree(final if moved and final else staging, ignore_errors=True)
            raise
        return int(sid)

    def update_notes(self, owner: str, screening_id: int, notes: str) -> None:
        """Replace the notes of one of ``owner``'s screenings (:class:`NotFound` if not theirs)."""
        with self._tx() as conn:
            n = conn.execute(screenings_table.update().where(*self._mine(owner, _id(screening_id)))
                             .values(notes=notes or "")).rowcount
        if n != 1:
            raise _not_found(screening_id)

    def delete(self, owner: str, screening_id: int) -> None:
        """Delete one of ``owner``'s screenings and its stored files (:class:`NotFound` if not theirs)."""
        sid = _id(screening_id)
        folder: Path | None = None
        trash: Path | None = None
        try:
            with self._tx() as conn:
                row = conn.execute(sa.select(screenings_table.c.files_dir).where(*self._mine(owner, sid))).first()
                if row is None:
                    raise _not_found(screening_id)
                conn.execute(metrics_table.delete().where(metrics_table.c.screening_id == sid))
                conn.execute(files_table.delete().where(files_table.c.screening_id == sid))
                conn.execute(screenings_table.delete().where(*self._mine(owner, sid)))
                if row.files_dir and (self.files_dir / row.files_dir).exists():
                    folder = self.files_dir / row.files_dir
                    # moved aside before the commit, and back if the commit fails
                    os.replace(folder, self.files_dir / f".deleting-{row.files_dir}")
                    trash = self.files_dir / f".deleting-{row.files_dir}"
        except OSError as e:  # the folder could not be moved: the transaction was rolled back
            raise StorageError(f"Cannot remove the files of screening {screening_id} in {folder} "
                               f"({e.strerror or e}): check the folder's permissions.") from None
        except BaseException:
            if trash is not None and folder is not None and trash.exists():
                os.replace(trash, folder)
            raise
        if trash is not None:
            try:
                shutil.rmtree(trash)
            except OSError as e:
                raise StorageError(f"Screening {screening_id} was deleted but its files could not be removed from "
                                   f"{trash} ({e.strerror or e}): delete that folder by hand.") from None

    # ---- reading
    def get(self, owner: str, screening_id: int) -> ScreeningRecord:
        """One of ``owner``'s screenings; :class:`NotFound` if it does not exist or is someone else's."""
        records = self._records(owner, screenings_table.c.id == _id(screening_id))
        if not records:
            raise _not_found(screening_id)
        return records[0]

    def list(self, owner: str, label: str | None = None) -> list[ScreeningRecord]:
        """``owner``'s screenings, newest first; only those of one person/patient when ``label`` is given."""
        cond = [screenings_table.c.label == label] if label is not None else []
        return self._records(owner, *cond)

    def labels(self, owner: str) -> builtins.list[str]:
        """The person/patient labels ``owner`` has screenings for, sorted."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(screenings_table.c.label).distinct()
                                .where(screenings_table.c.owner == owner)).scalars().all()
        return sorted(rows, key=str.casefold)

    def metric_names(self, owner: str, label: str | None = None) -> builtins.list[str]:
        """The metric keys stored for ``owner``'s screenings (of one label when given), sorted."""
        q = (sa.select(metrics_table.c.name).distinct()
             .join(screenings_table, screenings_table.c.id == metrics_table.c.screening_id)
             .where(screenings_table.c.owner == owner))
        if label is not None:
            q = q.where(screenings_table.c.label == label)
        with self._tx() as conn:
            return sorted(conn.execute(q).scalars().all())

    def metric_history(self, owner: str, label: str, metric: str) -> builtins.list[tuple[_dt.datetime, float]]:
        """``(created, value)`` of ``metric`` (e.g. ``knee_fppa_deg.left``) for each of ``owner``'s
        screenings of ``label`` that has it, oldest first (for a progress chart)."""
        s, m = screenings_table, metrics_table
        q = (sa.select(s.c.created, m.c.value).join(m, m.c.screening_id == s.c.id)
             .where(s.c.owner == owner, s.c.label == label, m.c.name == metric)
             .order_by(s.c.created, s.c.id))
        with self._tx() as conn:
            return [(_utc(c), float(v)) for c, v in conn.execute(q).all()]

    # ---- helpers
    @staticmethod
    def _mine(owner: str, screening_id: int) -> tuple[Any, ...]:
        return (screenings_table.c.owner == owner, screenings_table.c.id == screening_id)

    def _records(self, owner: str, *where: Any) -> builtins.list[ScreeningRecord]:
        s = screenings_table
        with self._tx() as conn:
            rows = conn.execute(sa.select(s).where(s.c.owner == owner, *where)
                                .order_by(s.c.created.desc(), s.c.id.desc())).all()
            ids = [r.id for r in rows]
            metrics: dict[int, dict[str, float]] = {i: {} for i in ids}
            files: dict[int, dict[str, Path]] = {i: {} for i in ids}
            folders = {r.id: r.files_dir for r in rows}
            for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
                for sid, name, value in conn.execute(sa.select(metrics_table).where(
                        metrics_table.c.screening_id.in_(chunk))):
                    metrics[sid][name] = float(value)
                for sid, name, filename in conn.execute(sa.select(files_table).where(
                        files_table.c.screening_id.in_(chunk))):
                    files[sid][name] = self.files_dir / folders[sid] / filename
        return [ScreeningRecord(
            id=r.id, owner=r.owner, label=r.label, notes=r.notes, created=_utc(r.created), test=r.test,
            stance_side=r.stance_side, metrics=metrics[r.id], result=json.loads(r.result), files=files[r.id],
            flagged=tuple(Flag(*f) for f in json.loads(r.flagged)),
        ) for r in rows]


def _require(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StorageError(f"A screening needs a non-empty {what}: "
                           + ("log in first." if what == "owner" else "enter the person's name or code."))
    return value.strip()


#: the largest id the ``screenings.id`` column holds (PostgreSQL's integer; SQLite's is wider)
_MAX_ID = 2**31 - 1


def _id(screening_id: Any) -> int:
    try:
        sid = int(screening_id)
    except (TypeError, ValueError):
        raise _not_found(screening_id) from None
    if not 1 <= sid <= _MAX_ID:  # no such row; asking the database would fail with "out of range"
        raise _not_found(screening_id)
    return sid


def _not_found(screening_id: Any) -> NotFound:
    return NotFound(f"Screening {screening_id} is not in your history: it was deleted or belongs to another "
                    "user; pick one from the list.")
