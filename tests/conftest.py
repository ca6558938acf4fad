from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_VIDEOS = ROOT / "test_videos"
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest runs its page as ``__main__`` and leaves it there (a temporary script that is
    deleted afterwards); put the real one back so no later test sees it."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


@pytest.fixture
def isolated_app(tmp_path, monkeypatch):
    """For dashboard tests: the history in a temporary database and folder; run from the repository root
    (where app.py sits)."""
    monkeypatch.setenv("CHAINSCAN_DB", str(tmp_path / "history.db"))
    monkeypatch.setenv("CHAINSCAN_FILES", str(tmp_path / "files"))
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def test_videos() -> Path:
    return TEST_VIDEOS


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA


# ------------------------------------------------------------------------------ PostgreSQL
# The PostgreSQL tests use CHAINSCAN_TEST_PG_URL when it is set; otherwise a throwaway server is started
# for the session from the machine's PostgreSQL binaries (Debian's postgresql package, which
# scripts/test.sh installs when run as root) in a temporary folder, reached only through a Unix socket
# there (no TCP port, nothing to collide with). PostgreSQL refuses to run as root: as root it runs as the
# 'postgres' system user that package creates. Without binaries the tests skip with the reason, unless
# CHAINSCAN_TEST_PG_REQUIRED=1 (set by scripts/test.sh), where they fail instead of skipping silently.
ENV_PG_URL = "CHAINSCAN_TEST_PG_URL"
ENV_PG_REQUIRED = "CHAINSCAN_TEST_PG_REQUIRED"


def _pg_unavailable(reason: str) -> None:
    if os.environ.get(ENV_PG_REQUIRED) == "1":
        pytest.fail(f"PostgreSQL tests cannot run ({ENV_PG_REQUIRED}=1): {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests: {reason}")


def _pg_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "pg_ctl").is_file():
        return Path(initdb).resolve().parent
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin")
             if (d / "initdb").is_file() and (d / "pg_ctl").is_file()]
    found.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    return found[-1] if found else None


@pytest.fixture(scope="session")
def pg_url():
    """A SQLAlchemy URL (postgresql+psycopg://…) of a PostgreSQL database the test may create tables in."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _pg_unavailable("psycopg is not installed: pip install -e '.[dev]' (or '.[postgres]')")
    if os.environ.get(ENV_PG_URL):
        yield os.environ[ENV_PG_URL]
        return
    bindir = _pg_bindir()
    if bindir is None:
        _pg_unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql package "
                        f"(scripts/test.sh does as root) or set {ENV_PG_URL}")
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _pg_unavailable("running as root (which PostgreSQL refuses) and there is no 'postgres' user to run "
                            "the server as: install Debian's postgresql package, which creates it")
        run_as = "postgres"
    base = Path(tempfile.mkdtemp(prefix="chainscan-pg-"))
    data, log = base / "data", base / "server.log"
    if run_as:
        shutil.chown(base, user=run_as)

    def pg(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(bindir / args[0]), *args[1:]], user=run_as, cwd=base, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "LC_ALL": "C"})

    started = False
    try:
        t0 = time.perf_counter()
        out = pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                 "--no-sync", "--no-instructions")
        if out.returncode != 0:
            _pg_unavailable(f"initdb failed: {(out.stderr or out.stdout).strip()[-500:]}")
        with open(data / "postgresql.conf", "a") as conf:  # a test server: socket only, speed over durability
            conf.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{base}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        out = pg("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", "start", timeout=90)
        started = out.returncode == 0
        if not started:
            tail = log.read_text(errors="replace").strip()[-500:] if log.exists() else out.stderr.strip()
            _pg_unavailable(f"the server did not start: {tail}")
        print(f"\nPostgreSQL test server ({bindir}) ready in {time.perf_counter() - t0:.2f} s")
        yield f"postgresql+psycopg://postgres@/postgres?host={base}"
    finally:
        if started:
            pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
