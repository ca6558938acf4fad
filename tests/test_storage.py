"""Screening history (chainscan.storage) on SQLite in tmp_path and on PostgreSQL.

The ``store`` tests run on both backends; PostgreSQL comes from the ``pg_url`` fixture (conftest.py): a
throwaway server for the session, or CHAINSCAN_TEST_PG_URL. Each PostgreSQL test gets its own schema
(dropped afterwards), so it sees only its own rows."""

from __future__ import annotations

import copy
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from chainscan import synthetic
from chainscan.errors import ChainscanError
from chainscan.landmarks import Side
from chainscan.pipeline import screen_pose
from chainscan.storage import (
    SCHEMA_VERSION,
    Flag,
    NotFound,
    StorageError,
    flagged_findings,
    headline_metrics,
    metric_unit,
    open_storage,
)


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    """Real result.json dicts from synthetic clips with known answers (no pose model)."""
    return {
        "dls": screen_pose(synthetic.make_squat(n_reps=3, valgus_deg=12).pose).to_dict(),
        "sls": screen_pose(synthetic.make_single_leg_squat(Side.LEFT, valgus_deg=15).pose).to_dict(),
        "stance": screen_pose(synthetic.make_single_leg_stance(Side.RIGHT, pelvic_drop_deg=6).pose).to_dict(),
    }


def _at(result: dict, when: str) -> dict:
    r = copy.deepcopy(result)
    r["created"] = when
    return r


@pytest.fixture()
def sqlite_store(tmp_path: Path):
    s = open_storage(str(tmp_path / "db" / "history.db"))
    yield s
    s.close()


@pytest.fixture()
def pg_schema_url(pg_url: str):
    """A URL of ``pg_url``'s database whose tables go into a fresh schema of their own (dropped afterwards)."""
    schema = f"chainscan_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    try:
        with admin.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield sa.make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"}) \
            .render_as_string(hide_password=False)
    finally:
        with admin.begin() as con:
            con.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    if request.param == "sqlite":
        s = open_storage(str(tmp_path / "db" / "history.db"))
    else:
        s = open_storage(request.getfixturevalue("pg_schema_url"), files_dir=tmp_path / "files")
    yield s
    s.close()


@pytest.fixture()
def some_files(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "report.pdf").write_bytes(b"%PDF-1.4 fake")
    (src / "pose.npz").write_bytes(b"PK fake")
    return {"report.pdf": src / "report.pdf", "pose.npz": src / "pose.npz"}


def _folders(store) -> list[Path]:
    return sorted(store.files_dir.iterdir())


# --------------------------------------------------------------------------------- metrics
def test_headline_metrics_follow_the_findings(results):
    sls = headline_metrics(results["sls"])
    assert sls["knee_fppa_deg.left"] == pytest.approx(15, abs=3)   # the synthetic clip's valgus
    assert "pelvic_drop_deg.left" in sls and "trunk_lean_ipsi_deg.left" in sls
    assert "hold_s.left" in sls
    dls = headline_metrics(results["dls"])  # FPPA per side from the reps (no FPPA finding for this test)
    assert dls["knee_fppa_deg.left"] == pytest.approx(12, abs=3)
    assert dls["knee_fppa_deg.right"] == pytest.approx(12, abs=3)
    assert "knee_separation_ratio" in dls and not any(k.startswith("pelvic_drop_deg") for k in dls)
    stance = headline_metrics(results["stance"])
    assert stance["pelvic_drop_deg.right"] == pytest.approx(6, abs=1.5)
    assert stance["hold_s.right"] > 0
    assert Flag("pelvic_drop", "right", "mild") in flagged_findings(results["stance"])
    assert metric_unit("knee_fppa_deg.left") == "°" and metric_unit("hold_s.right") == "s"
    assert metric_unit("knee_separation_ratio") == "ratio" and metric_unit("knee_over_foot.left") == "shank lengths"


# -------------------------------------------------------------------------- save/list/get/…
def test_save_get_list_update_delete(store, results, some_files):
    a = store.save(owner="anna", label="P-001", notes="first visit",
                   result=_at(results["sls"], "2025-01-10T10:00:00+01:00"), files=some_files)
    b = store.save(owner="anna", label="P-001", result=_at(results["sls"], "2025-02-10T10:00:00+01:00"))
    c = store.save(owner="anna", label="P-002", result=_at(results["stance"], "2025-01-20T09:00:00+00:00"))

    rec = store.get("anna", a)
    assert (rec.owner, rec.label, rec.notes, rec.test, rec.stance_side) == \
        ("anna", "P-001", "first visit", "single_leg_squat", "left")
    assert rec.created == dt.datetime(2025, 1, 10, 9, 0, tzinfo=dt.timezone.utc)
    assert rec.result == _at(results["sls"], "2025-01-10T10:00:00+01:00")
    assert rec.metrics == headline_metrics(results["sls"])
    assert rec.flagged == flagged_findings(results["sls"])
    assert set(rec.files) == {"report.pdf", "pose.npz"}
    for name, path in rec.files.items():
        assert path.read_bytes() == some_files[name].read_bytes()
        assert path.parent.parent == store.files_dir

    assert [r.id for r in store.list("anna")] == [b, c, a]  # newest first
    assert [r.id for r in store.list("anna", "P-001")] == [b, a]
    assert store.labels("anna") == ["P-001", "P-002"]

    store.update_notes("anna", a, "knee pain on the left")
    assert store.get("anna", a).notes == "knee pain on the left"

    folder = rec.files["report.pdf"].parent
    store.delete("anna", a)
    assert not folder.exists()
    assert _folders(store) == []  # nothing left over (no .deleting-* either)
    with pytest.raises(NotFound):
        store.get("anna", a)
    assert [r.id for r in store.list("anna")] == [b, c]


def test_owner_isolation(store, results, some_files):
    a = store.save(owner="anna", label="P-001", result=results["sls"], files=some_files)
    assert store.list("ben") == [] and store.labels("ben") == []
    assert store.metric_history("ben", "P-001", "knee_fppa_deg.left") == []
    with pytest.raises(NotFound) as e:
        store.get("ben", a)
    assert "belongs to another user" in str(e.value) and isinstance(e.value, ChainscanError)
    with pytest.raises(NotFound):
        store.update_notes("ben", a, "mine now")
    with pytest.raises(NotFound):
        store.delete("ben", a)
    rec = store.get("anna", a)  # untouched
    assert rec.notes == "" and all(p.is_file() for p in rec.files.values())
    with pytest.raises(NotFound):
        store.get("anna", 999)
    with pytest.raises(NotFound):
        store.get("anna", "not-a-number")
    for huge in (0, -1, 2**31, 10**20):  # beyond the id column (PostgreSQL: integer): just "not found"
        with pytest.raises(NotFound):
            store.get("anna", huge)
        with pytest.raises(NotFound):
            store.delete("anna", huge)


def test_metric_history_is_oldest_first_per_label(store, results):
    for when, valgus in (("2025-03-01T10:00:00+00:00", 20.0), ("2025-01-01T10:00:00+00:00", 25.0),
                         ("2025-05-01T10:00:00+00:00", 10.0)):
        r = _at(results["sls"], when)
        for f in r["findings"]:
            if f["code"] == "knee_valgus":
                f["value"] = valgus
        store.save(owner="anna", label="P-001", result=r)
    store.save(owner="anna", label="P-002", result=results["sls"])
    hist = store.metric_history("anna", "P-001", "knee_fppa_deg.left")
    assert [v for _, v in hist] == [25.0, 20.0, 10.0]
    assert [c.month for c, _ in hist] == [1, 3, 5] and all(c.tzinfo is not None for c, _ in hist)
    assert "knee_fppa_deg.left" in store.metric_names("anna", "P-001")
    assert store.metric_history("anna", "P-001", "no_such_metric") == []


def test_missing_file_stores_nothing(store, results, some_files, tmp_path):
    files = {**some_files, "video.mp4": tmp_path / "gone.mp4"}
    with pytest.raises(StorageError, match="does not exist"):
        store.save(owner="anna", label="P-001", result=results["sls"], files=files)
    assert store.list("anna") == [] and _folders(store) == []


def test_failing_copy_stores_nothing(store, results, some_files, monkeypatch):
    import chainscan.storage as storage_mod

    calls = []

    def copy_then_fail(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        Path(dst).write_bytes(Path(src).read_bytes())

    monkeypatch.setattr(storage_mod.shutil, "copyfile", copy_then_fail)
    with pytest.raises(StorageError, match="No space left"):
        store.save(owner="anna", label="P-001", result=results["sls"], files=some_files)
    assert store.list("anna") == [] and _folders(store) == []


def test_failing_database_write_stores_no_files(sqlite_store, results, some_files):
    store = sqlite_store
    bad = copy.deepcopy(results["sls"])
    bad["findings"][0]["value"] = float("nan")  # not JSON: refused before anything is written
    with pytest.raises(StorageError, match="JSON"):
        store.save(owner="anna", label="P-001", result=bad, files=some_files)
    long_label = "x" * 5000  # SQLite ignores VARCHAR lengths; make the insert fail another way
    with sqlite3.connect(store.url.split("///", 1)[1]) as con:
        con.execute("CREATE TRIGGER no_insert BEFORE INSERT ON screenings BEGIN SELECT RAISE(ABORT, 'disk I/O'); END")
    with pytest.raises(StorageError, match="disk I/O"):
        store.save(owner="anna", label=long_label, result=results["sls"], files=some_files)
    assert _folders(store) == []
    with sqlite3.connect(store.url.split("///", 1)[1]) as con:
        assert con.execute("SELECT count(*) FROM screenings").fetchone() == (0,)


def test_bad_input_is_refused(store, results):
    with pytest.raises(StorageError, match="owner"):
        store.save(owner=" ", label="P", result=results["sls"])
    with pytest.raises(StorageError, match="label"):
        store.save(owner="anna", label="", result=results["sls"])
    with pytest.raises(StorageError, match="test"):
        store.save(owner="anna", label="P", result={"findings": []})


def test_file_names_stay_inside_the_screening_folder(store, results, some_files):
    sid = store.save(owner="anna", label="P", result=results["sls"],
                     files={"../../evil.pdf": some_files["report.pdf"], "evil.pdf": some_files["pose.npz"]})
    rec = store.get("anna", sid)
    folder = rec.files["evil.pdf"].parent
    assert all(p.parent == folder for p in rec.files.values())
    assert rec.files["../../evil.pdf"].read_bytes() == b"%PDF-1.4 fake"
    assert rec.files["evil.pdf"].read_bytes() == b"PK fake"


# ------------------------------------------------------------------------ opening, schema
def test_schema_version_row_and_reopen(tmp_path, results):
    path = tmp_path / "h.db"
    s = open_storage(str(path))
    sid = s.save(owner="anna", label="P", result=results["dls"])
    assert open_storage(str(path)) is s  # cached: cheap on every rerun
    s.close()
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(SCHEMA_VERSION),)]
    s2 = open_storage(f"sqlite:///{path}")
    assert s2.get("anna", sid).test == "double_leg_squat"
    s2.close()
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StorageError, match="schema version 99"):
        open_storage(str(path))


def test_locations_from_environment(tmp_path, monkeypatch, results):
    monkeypatch.setenv("CHAINSCAN_DB", str(tmp_path / "env" / "h.db"))
    monkeypatch.setenv("CHAINSCAN_FILES", str(tmp_path / "blobs"))
    s = open_storage()
    assert (tmp_path / "env" / "h.db").is_file() and s.files_dir == tmp_path / "blobs"
    s.close()
    monkeypatch.delenv("CHAINSCAN_FILES")
    s = open_storage()
    assert s.files_dir == tmp_path / "env" / "files"  # next to the SQLite file
    s.close()


def test_default_location_is_created_on_open_not_import(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINSCAN_DB", raising=False)
    monkeypatch.delenv("CHAINSCAN_FILES", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    subprocess.run([sys.executable, "-c", "import chainscan.storage"], check=True, env=os.environ.copy())
    assert not (tmp_path / "xdg").exists()
    s = open_storage()
    assert (tmp_path / "xdg" / "chainscan" / "history.db").is_file()
    assert s.files_dir == tmp_path / "xdg" / "chainscan" / "files"
    s.close()


@pytest.mark.parametrize("url, message", [
    ("mysql://u:p@h/db", "SQLite or PostgreSQL"),
    ("postgresql+nosuchdriver://u:p@h/db", "driver"),
    ("sqlite://", "in-memory"),
    ("://nonsense", "not a valid URL"),
])
def test_bad_urls(url, message, tmp_path):
    with pytest.raises(StorageError, match=message):
        open_storage(url, files_dir=tmp_path / "f")


def test_unreachable_postgres_is_a_clear_error(tmp_path):
    pytest.importorskip("psycopg")
    with pytest.raises(StorageError, match="Cannot open the screening database") as e:
        open_storage("postgresql+psycopg://u:secretpw@127.0.0.1:1/db", files_dir=tmp_path / "f")
    assert "secretpw" not in str(e.value)


def test_folder_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="Cannot create the database folder"):
        open_storage(str(blocker / "sub" / "h.db"))
    with pytest.raises(StorageError, match="Cannot create the files folder"):
        open_storage(str(tmp_path / "ok.db"), files_dir=blocker / "files")


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root (or Windows) ignores folder permissions")
def test_unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="not writable|Cannot create"):
            open_storage(str(locked / "sub" / "h.db"))
        with pytest.raises(StorageError, match="not writable|Cannot create"):
            open_storage(str(tmp_path / "ok.db"), files_dir=locked)
    finally:
        locked.chmod(0o700)


# ------------------------------------------------------------------------------ PostgreSQL
def test_postgresql_round_trip(pg_url, tmp_path, results, some_files):
    """The database's default schema, shared with other users: unique owners, everything deleted after."""
    s = open_storage(pg_url, files_dir=tmp_path / "files")
    assert s.url.startswith("postgresql+psycopg://")
    me, other = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    try:
        a = s.save(owner=me, label="P-001", notes="first", files=some_files,
                   result=_at(results["sls"], "2025-01-01T10:00:00+00:00"))
        b = s.save(owner=me, label="P-001", result=_at(results["sls"], "2025-02-01T10:00:00+00:00"))
        c = s.save(owner=other, label="P-001", result=results["stance"])
        assert [r.id for r in s.list(me)] == [b, a] and [r.id for r in s.list(other)] == [c]
        rec = s.get(me, a)
        assert rec.created == dt.datetime(2025, 1, 1, 10, tzinfo=dt.timezone.utc)
        assert rec.result == _at(results["sls"], "2025-01-01T10:00:00+00:00")
        assert rec.metrics == headline_metrics(results["sls"]) and rec.flagged == flagged_findings(results["sls"])
        assert {n: p.read_bytes() for n, p in rec.files.items()} == {n: p.read_bytes() for n, p in some_files.items()}
        assert len(s.metric_history(me, "P-001", "knee_fppa_deg.left")) == 2
        with pytest.raises(NotFound):
            s.get(other, a)
        with pytest.raises(NotFound):
            s.delete(other, a)
        s.update_notes(me, a, "pg notes")
        assert s.get(me, a).notes == "pg notes"
        with sa.create_engine(pg_url).connect() as con:
            assert con.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar() == \
                str(SCHEMA_VERSION)
            assert con.execute(sa.text("SELECT data_type FROM information_schema.columns WHERE "
                                       "table_name = 'screenings' AND column_name = 'created' "
                                       "AND table_schema = current_schema()")).scalar() == \
                "timestamp with time zone"
        s.delete(me, a)
        assert not rec.files["report.pdf"].parent.exists()
        assert [r.id for r in s.list(me)] == [b]
    finally:
        for owner in (me, other):
            for r in s.list(owner):
                s.delete(owner, r.id)
        s.close()
    assert _folders(s) == []


def test_postgresql_refused_write_leaves_nothing(pg_schema_url, tmp_path, results, some_files):
    """PostgreSQL enforces what SQLite ignores (VARCHAR lengths, NUL characters): the refused insert is a
    clear StorageError and neither a row nor a copied file is left behind."""
    s = open_storage(pg_schema_url, files_dir=tmp_path / "files")
    try:
        with pytest.raises(StorageError, match="The screening database .* failed") as e:
            s.save(owner="anna", label="x" * 201, result=results["sls"], files=some_files)
        assert "Traceback" not in str(e.value)
        with pytest.raises(StorageError, match="failed"):
            s.save(owner="anna", label="P", notes="a\x00b", result=results["sls"], files=some_files)
        assert s.list("anna") == [] and _folders(s) == []
        sid = s.save(owner="anna", label="x" * 200, result=results["sls"], files=some_files)  # the limit fits
        assert s.get("anna", sid).label == "x" * 200
    finally:
        s.close()


def test_postgresql_schema_version_and_reopen(pg_schema_url, tmp_path, results):
    s = open_storage(pg_schema_url, files_dir=tmp_path / "files")
    sid = s.save(owner="anna", label="P", result=results["dls"])
    assert open_storage(pg_schema_url, files_dir=tmp_path / "files") is s
    s.close()
    s2 = open_storage(pg_schema_url, files_dir=tmp_path / "files")  # tables exist: opens them as they are
    assert s2.get("anna", sid).test == "double_leg_squat"
    s2.close()
    engine = sa.create_engine(pg_schema_url)
    with engine.begin() as con:
        con.execute(sa.text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(StorageError, match="schema version 99"):
        open_storage(pg_schema_url, files_dir=tmp_path / "files")
