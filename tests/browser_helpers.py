"""Helpers for the real-browser tests: a Streamlit server subprocess and Debian's Chromium via Selenium.

Nothing is downloaded: the driver is /usr/bin/chromedriver (apt package ``chromium-driver``) and the
browser /usr/bin/chromium; Selenium Manager is never asked for a driver.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHAINSCAN_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHAINSCAN_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOT_DIR = Path(os.environ.get("CHAINSCAN_SCREENSHOTS", "/tmp"))
#: seconds any one WebDriver command may take before the test fails (instead of hanging)
DRIVER_TIMEOUT_S = 90

BASE_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              "--mute-audio", "--autoplay-policy=no-user-gesture-required")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)"
    if not CHROMEDRIVER.is_file():
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def streamlit_command(app: Path, port: int) -> list[str]:
    """``streamlit run app`` on 127.0.0.1:``port``. Only where to listen is given here (and no file
    watcher); every other setting comes from the repository's .streamlit/config.toml."""
    streamlit = Path(sys.executable).with_name("streamlit")
    exe = [str(streamlit)] if streamlit.is_file() else [sys.executable, "-m", "streamlit"]
    return [*exe, "run", str(app), "--server.headless", "true", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]


class StreamlitServer:
    """``streamlit run app.py`` on a free localhost port; :meth:`stop` always ends it (and its children)."""

    def __init__(self, app: Path = ROOT / "app.py", *, env: dict[str, str] | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="chainscan-streamlit-", suffix=".log")[1])
        cmd = [*streamlit_command(app, self.port), *extra_args]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        # run from the repository root: Streamlit reads ./.streamlit/config.toml there (usage statistics
        # off, upload limit, theme), so the browser tests see the dashboard as users get it
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"streamlit did not answer on {self.url} within {timeout:.0f} s:\n{self.log()}")

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group this Popen started, by its id
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


def make_driver(extra_flags: tuple[str, ...] = (), *, width: int = 1400, height: int = 1600):
    """A headless Chromium driven through /usr/bin/chromedriver, with its own throw-away profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chainscan-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for f in (*BASE_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", *extra_flags):
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Selenium's HTTP client takes the socket default timeout, None = wait forever: a hung browser would
    # stall the whole run. Every command to chromedriver now gives up after DRIVER_TIMEOUT_S.
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DRIVER_TIMEOUT_S)
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    finally:
        socket.setdefaulttimeout(old)
    driver.command_executor.client_config.timeout = DRIVER_TIMEOUT_S
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    driver._chainscan_profile = profile  # type: ignore[attr-defined]
    return driver


def quit_driver(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "_chainscan_profile", ""), ignore_errors=True)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.3) -> Any:
    """Poll ``predicate`` until it returns something truthy; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - stale elements etc. while the page re-renders
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" ({last_exc!r})" if last_exc else ""))


def body_text(driver) -> str:
    return str(driver.execute_script("return document.body ? document.body.innerText : ''"))


def wait_for_text(driver, text: str, timeout: float = 30.0) -> str:
    return wait_until(lambda: text in body_text(driver) and body_text(driver), timeout, repr(text))


def wait_app_idle(driver, timeout: float = 60.0) -> None:
    """Wait until Streamlit shows no "running" indicator (the script run has finished)."""
    def idle() -> bool:
        return not driver.execute_script(
            "return !!document.querySelector('[data-testid=\"stStatusWidget\"]') && "
            "/Running|Stop/.test(document.querySelector('[data-testid=\"stStatusWidget\"]').innerText)")
    wait_until(idle, timeout, "the script run to finish", interval=0.5)


def screenshot(driver, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG to SCREENSHOT_DIR (``chainscan-<name>.png``). Streamlit scrolls inside its main section,
    so a full-page shot grows the window to the content's height for the capture, then restores it."""
    path = SCREENSHOT_DIR / f"chainscan-{name}.png"
    size = driver.get_window_size()
    try:
        if full_page:
            h = int(driver.execute_script(
                "const m = document.querySelector('[data-testid=\"stMain\"]');"
                "return m ? m.scrollHeight : document.body.scrollHeight;"))
            if h > size["height"]:
                driver.set_window_size(size["width"], min(h + 80, 8000))
                time.sleep(0.8)
        driver.save_screenshot(str(path))
    finally:
        if full_page:
            driver.set_window_size(size["width"], size["height"])
    return path


def scroll_into_view(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)


def click_sidebar_page(driver, label: str) -> None:
    """Choose a page in the sidebar radio (st.radio labels are clickable <label>s)."""
    from selenium.webdriver.common.by import By

    def find():
        for el in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] label'):
            if el.text.strip() == label:
                return el
        return None

    el = wait_until(find, 20, f"the sidebar entry {label!r}")
    driver.execute_script("arguments[0].click()", el)


def make_y4m(src: Path, dst: Path, *, seconds: float = 6.0, width: int = 640, height: int = 480,
             fps: int = 30) -> Path:
    """A raw .y4m clip for Chromium's fake camera, letter-boxed to width × height (ffmpeg of imageio-ffmpeg)."""
    import imageio_ffmpeg

    vf = (f"scale=-2:{height},pad={width}:{height}:(ow-iw)/2:0,fps={fps}")
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-t", f"{seconds}",
           "-vf", vf, "-pix_fmt", "yuv420p", "-an", str(dst)]
    subprocess.run(cmd, check=True, timeout=120)
    return dst


@contextlib.contextmanager
def in_frame(driver, frame) -> Iterator[None]:
    driver.switch_to.frame(frame)
    try:
        yield
    finally:
        driver.switch_to.default_content()
