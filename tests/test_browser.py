"""The dashboard in a real browser (Debian's Chromium through Selenium and /usr/bin/chromedriver).

What Streamlit's AppTest cannot reach: the sample result rendering, a real file upload and the annotated
<video> playing, and the webcam path end to end (Chromium's fake camera → WebRTC → the frame callback →
the pose model → setup check, countdown and rep counting → the analysis → the same result view
as for a file). Screenshots go to /tmp/chainscan-*.png.

Run: ``pytest -m browser`` (skipped when Chromium, chromedriver or selenium is missing).
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest

from browser_helpers import (
    ROOT,
    StreamlitServer,
    body_text,
    click_sidebar_page,
    in_frame,
    make_driver,
    make_y4m,
    missing_browser,
    quit_driver,
    screenshot,
    wait_app_idle,
    wait_for_text,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(missing_browser() is not None,
                                                      reason=missing_browser() or "")]

SAMPLE_TEXT = "bundled sample"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (ROOT / "app.py").is_file():
        pytest.skip("app.py does not exist yet")
    data = tmp_path_factory.mktemp("dashboard-data")  # history and files of this run only
    env = {"CHAINSCAN_DB": str(data / "history.db"), "CHAINSCAN_FILES": str(data / "files")}
    _two_past_sessions(env)
    srv = StreamlitServer(env=env)
    try:
        srv.wait_ready(timeout=60)
        yield srv
    finally:
        srv.stop()


def _two_past_sessions(env: dict[str, str]) -> None:
    """Two stored screenings of one person (synthetic landmarks, a month apart) for the History page."""
    from chainscan import synthetic as syn
    from chainscan.pipeline import screen_pose
    from chainscan.storage import open_storage

    store = open_storage(env["CHAINSCAN_DB"], env["CHAINSCAN_FILES"])
    for created, valgus in (("2026-10-01T09:30:00+00:00", 14.0), ("2026-11-02T09:30:00+00:00", 8.0)):
        rd = screen_pose(syn.make_squat(n_reps=3, valgus_deg=valgus).pose).to_dict()
        rd["created"] = created
        store.save(owner="local", label="Anna B.", notes="follow-up" if valgus < 10 else "first visit", result=rd)
    store.close()


@pytest.fixture
def browser():
    driver = make_driver()
    try:
        yield driver
    finally:
        quit_driver(driver)


@contextlib.contextmanager
def explained(driver, server, name: str):
    """On failure: a screenshot, the end of the page text and of the server log in the message."""
    from selenium.common.exceptions import WebDriverException

    try:
        yield
    except (AssertionError, TimeoutError, WebDriverException) as e:
        with contextlib.suppress(Exception):
            screenshot(driver, f"{name}-failure")
        page = ""
        with contextlib.suppress(Exception):
            page = body_text(driver)[-1500:]
        raise AssertionError(f"{type(e).__name__}: {e}\n--- page (end) ---\n{page}\n"
                             f"--- server log (end) ---\n{server.log(3000)}") from e


def _open(driver, server) -> None:
    driver.get(server.url)
    wait_until(lambda: driver.find_elements("css selector", '[data-testid="stSidebar"]'), 30, "the app to load")


def _video_state(driver, video) -> dict:
    return driver.execute_script(
        "const v = arguments[0]; return {ready: v.readyState, t: v.currentTime, w: v.videoWidth, "
        "src: v.currentSrc, err: v.error ? v.error.code : null, paused: v.paused};", video)


def _click_tab(driver, label: str) -> None:
    def find():
        return next((t for t in driver.find_elements("css selector", '[data-testid="stTab"]') if label in t.text), None)

    tab = wait_until(find, 60, f"the {label!r} tab")
    driver.execute_script("arguments[0].click()", tab)


def _active_panel_text(driver) -> str:
    return str(driver.execute_script(
        "const p = [...document.querySelectorAll('[role=\"tabpanel\"]')].filter(e => e.offsetParent !== null);"
        "return p.map(e => e.innerText).join('\\n');"))


def _play_annotated_video(driver, what: str) -> dict:
    """Open the 'Video and key frames' tab, play the annotated <video> (not the webcam's) and check that its
    time advances; returns the video's state."""
    _click_tab(driver, "Video and key frames")

    def visible_video():
        for v in driver.find_elements("css selector", '[data-testid="stVideo"], [data-testid="stMain"] video'):
            if v.tag_name == "video" and v.is_displayed():
                return v
        return None

    video = wait_until(visible_video, 120, f"the annotated <video> of {what}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].muted = true;", video)
    wait_until(lambda: _video_state(driver, video)["ready"] >= 2, 30, "video.readyState >= 2")
    t0 = _video_state(driver, video)["t"]
    driver.execute_script("arguments[0].play();", video)
    st = wait_until(lambda: (s := _video_state(driver, video))["t"] > t0 + 0.3 and s, 20,
                    "the video's currentTime to advance")
    assert st["err"] is None and st["w"] > 0, st
    driver.execute_script("arguments[0].pause();", video)
    return st


def test_app_opens_with_the_sample_result(server, browser):
    with explained(browser, server, "sample"):
        _sample_result(browser, server)


def _sample_result(browser, server) -> None:
    _open(browser, server)
    text = wait_for_text(browser, SAMPLE_TEXT, timeout=90)
    # the sample has been analysed and its result is shown with the shared result view
    wait_until(lambda: browser.find_elements("css selector", '[data-testid="stTab"]'), 90, "the result tabs")
    text = body_text(browser)
    assert "Analyse a video" in text
    assert re.search(r"knee|valgus", text, re.I), text[:2000]
    assert "Traceback" not in text and "Error" not in text.split("Findings")[0]
    screenshot(browser, "1-sample-result")


def test_upload_a_video_and_the_annotated_video_plays(server, browser):
    with explained(browser, server, "upload"):
        _upload_and_play(browser, server)


def _upload_and_play(browser, server) -> None:
    _open(browser, server)
    wait_for_text(browser, SAMPLE_TEXT, timeout=90)
    clip = ROOT / "test_videos" / "double_leg_squat.mp4"
    upload = wait_until(lambda: browser.find_element("css selector", 'input[type="file"]'), 30, "the file input")
    upload.send_keys(str(clip))
    # one uploaded clip + the sample: a chooser appears, showing the uploaded clip first
    wait_for_text(browser, "Show the result of", timeout=120)
    wait_until(lambda: "double_leg_squat" in body_text(browser), 30, "the uploaded clip's result")
    _play_annotated_video(browser, "the uploaded clip")
    screenshot(browser, "2-uploaded-video", full_page=False)
    screenshot(browser, "2-uploaded-result")
    _click_tab(browser, "Export and save")
    wait_until(lambda: "Stored in the history as screening" in body_text(browser), 120,
               "the upload to be stored in the history")
    screenshot(browser, "2-uploaded-export")


@pytest.fixture
def fake_camera_browser(tmp_path):
    # the whole clip (9 s: standing, then 3 squats); Chromium's fake camera loops it
    clip = make_y4m(ROOT / "test_videos" / "double_leg_squat.mp4", tmp_path / "camera.y4m", seconds=9)
    driver = make_driver(("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          f"--use-file-for-fake-video-capture={clip}"))
    try:
        yield driver
    finally:
        quit_driver(driver)


def _set_number_input(driver, label: str, value: int) -> None:
    """Type ``value`` into the st.number_input labelled ``label`` and commit it (Enter)."""
    from selenium.webdriver.common.keys import Keys

    box = wait_until(lambda: driver.find_element("css selector", f'input[aria-label="{label}"]'), 20,
                     f"the {label!r} number input")
    lo = box.get_attribute("min")
    assert lo is None or int(float(lo)) <= value, f"{label}: the page allows no fewer than {lo}"
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.ENTER)
    wait_until(lambda: driver.find_element("css selector", f'input[aria-label="{label}"]')
               .get_attribute("value") == str(value), 10, f"{label} = {value}")


def _error_boxes(driver) -> list[str]:
    sel = '[data-testid="stException"], [data-testid="stAlertContentError"]'
    return [e.text for e in driver.find_elements("css selector", sel)]


LIVE_REPS = 2


def test_webcam_page_live_path_end_to_end(server, fake_camera_browser):
    """Fake camera (the double-leg squat clip, looping) → WebRTC → frame callback → pose model →
    setup check → countdown → rep counting in the timed test → screen_pose → the shared result view."""
    with explained(fake_camera_browser, server, "webcam"):
        _webcam_flow(fake_camera_browser, server)


def _webcam_flow(driver, server) -> None:
    t_start = time.monotonic()
    _open(driver, server)
    wait_for_text(driver, SAMPLE_TEXT, timeout=90)
    click_sidebar_page(driver, "Screen with the webcam")
    wait_for_text(driver, "Screen with the webcam", timeout=30)
    wait_for_text(driver, "Camera off", timeout=30)
    chosen = driver.execute_script(
        "const b = document.querySelector('[data-testid=\"stSelectbox\"]');"
        "return b ? b.textContent + ' ' + [...b.querySelectorAll('input')].map(i => i.value).join(' ') : ''")
    assert "Double-leg squat" in chosen, chosen  # the default test
    _set_number_input(driver, "Repetitions", LIVE_REPS)
    screenshot(driver, "3-webcam-before-start")

    iframe = wait_until(lambda: next((f for f in driver.find_elements("css selector", "iframe")
                                      if "webrtc" in (f.get_attribute("title") or "").lower()
                                      or "streamlit_webrtc" in (f.get_attribute("src") or "")), None),
                        30, "the streamlit-webrtc component")
    with in_frame(driver, iframe):
        start = wait_until(lambda: next((b for b in driver.find_elements("css selector", "button")
                                         if b.text.strip().lower() == "start"), None), 30, "the START button")
        start.click()

    # frames went through the callback (pose model) and the protocol: the status reports found frames
    def status():
        m = re.search(r"person found in (\d+)/(\d+) frames", body_text(driver))
        return m and int(m.group(1)) >= 5 and m
    m = wait_until(status, 60, "frames analysed by the frame callback")
    text = body_text(driver)
    assert re.search(r"Setup|Get ready|Rep \d|Double-leg squat", text), text[-1500:]
    fps = re.search(r"(\d+) frames/s analysed · (\d+) ms per frame · (\d+) dropped", text)
    assert fps, text[-1500:]

    with in_frame(driver, iframe):
        video = wait_until(lambda: next((v for v in driver.find_elements("css selector", "video")
                                         if driver.execute_script("return arguments[0].videoWidth", v) > 0), None),
                           30, "the returned (overlay) video")
        info = driver.execute_script("const v = arguments[0]; return [v.videoWidth, v.videoHeight, v.readyState]",
                                     video)
        assert info[0] > 0 and info[2] >= 2
    screenshot(driver, "4-webcam-live", full_page=False)

    # setup check passes by itself (whole body, frontal) → countdown → the timed test counting reps
    seen: list[str] = []

    def phase():
        t = body_text(driver)
        for name, pat in (("done", r"Recording finished"), ("test", rf"3 · {LIVE_REPS} × "),
                          ("countdown", r"2 · Get ready"), ("setup", r"1 · Setup")):
            if re.search(pat, t):
                if not seen or seen[-1] != name:
                    seen.append(name)
                return name
        return None

    wait_until(lambda: phase() in ("countdown", "test", "done"), 30, "the setup check to pass (countdown)")
    wait_until(lambda: phase() in ("test", "done"), 20, "the countdown to end (the timed test)")
    screenshot(driver, "5-webcam-protocol", full_page=False)
    # 2 reps of the clip take ~5 s (+1 s standing); the protocol's own limit is 30 s
    try:
        wait_until(lambda: phase() == "done", 45, f"{LIVE_REPS} reps counted and the recording finished",
                   interval=0.2)
    except TimeoutError as e:
        raise AssertionError(f"{e}; phases seen {seen}") from None
    assert seen[-2:] == ["test", "done"], seen

    # the shared result view: the test's header, the webcam source, the disclaimer, the tabs
    wait_until(lambda: "not a diagnosis" in body_text(driver), 60, "the result view (disclaimer)")
    wait_until(lambda: driver.find_elements("css selector", '[data-testid="stTab"]'), 30, "the result tabs")
    wait_app_idle(driver, 60)  # the key frames and reports are drawn after the findings
    text = body_text(driver)
    assert "Recording finished" in text
    heads = [h.text.strip() for h in driver.find_elements("css selector", "h3")]
    assert "Double-leg squat" in heads, heads
    assert "Webcam screening" in text, text[:3000]
    assert "This is a movement screen, not a diagnosis" in text
    # the Findings tab holds real findings (a title, its value against its threshold and its source),
    # not just the tab's label
    _click_tab(driver, "Findings")
    findings = wait_until(lambda: (p := _active_panel_text(driver)) and "Knees moving inward in the squat" in p
                          and p, 60, "a finding in the Findings tab")
    assert re.search(r"threshold [\d.]+", findings) and "Source:" in findings, findings[:2000]
    reps = re.search(r"as chosen; (\d+) reps?", text)
    # the recording starts with the countdown, so it may hold more squats than were counted
    assert reps and int(reps.group(1)) >= LIVE_REPS, text[:3000]
    assert not _error_boxes(driver), _error_boxes(driver)
    assert "Traceback" not in text and "Nothing was recorded" not in text
    screenshot(driver, "webcam-result")
    wait_app_idle(driver, 60)  # resizing for the full-page shot can set off another run: still no error
    assert not _error_boxes(driver) and "Double-leg squat" in body_text(driver), _error_boxes(driver)
    # the recording itself: the annotated video of the webcam test plays, with key frames beside it
    video = _play_annotated_video(driver, "the webcam recording")
    assert video["src"].startswith(("http", "blob:")) and video["w"] > 0, video
    assert len([i for i in driver.find_elements("css selector", '[data-testid="stImage"] img')
                if i.is_displayed()]) >= 1, "no key frame"
    screenshot(driver, "webcam-result-video", full_page=False)
    _click_tab(driver, "Export and save")
    wait_until(lambda: "Stored in the history as screening" in body_text(driver), 120,
               "the webcam screening to be stored in the history")
    labels = [b.text for b in driver.find_elements("css selector", '[data-testid="stDownloadButton"] button')]
    for want in ("PDF report", "HTML report", "Result (JSON)", "Frames (CSV)", "Reps (CSV)", "Annotated video"):
        assert any(want in x for x in labels), labels
    print(f"live: {m.group(0)}; {fps.group(0)}; phases {seen}; screened reps {reps.group(1)}; "
          f"{time.monotonic() - t_start:.0f} s")


def test_history_and_about_pages(server, browser):
    with explained(browser, server, "history"):
        _open(browser, server)
        wait_for_text(browser, SAMPLE_TEXT, timeout=90)
        click_sidebar_page(browser, "History")
        wait_for_text(browser, "Screening history", timeout=30)
        wait_for_text(browser, "Choose one person above", timeout=30)
        assert "No saved screenings yet" not in body_text(browser)
        _choose(browser, "Person / patient", "Anna B.")
        wait_for_text(browser, "Progress: Anna B.", timeout=30)
        wait_until(lambda: browser.find_elements("css selector", '[data-testid="stVegaLiteChart"]'), 30,
                   "the progress chart")
        wait_app_idle(browser, 30)
        screenshot(browser, "6-history")
        click_sidebar_page(browser, "About")
        wait_for_text(browser, "About chainscan", timeout=30)
        assert "not a diagnosis" in body_text(browser)
        screenshot(browser, "7-about")


def _choose(driver, label: str, option: str) -> None:
    """Pick ``option`` in the st.selectbox labelled ``label`` (type it, then Enter)."""
    from selenium.webdriver.common.keys import Keys

    def box():
        for b in driver.find_elements("css selector", '[data-testid="stSelectbox"]'):
            if b.text.startswith(label):
                return b.find_element("css selector", "input")
        return None

    inp = wait_until(box, 20, f"the {label!r} select")
    driver.execute_script("arguments[0].click()", inp)
    inp.send_keys(option)
    time.sleep(0.3)
    inp.send_keys(Keys.ENTER)


@pytest.fixture(scope="module")
def password_server(tmp_path_factory):
    """The dashboard with a clinic password login (as when served to a network)."""
    from chainscan.ui.auth import hash_password

    data = tmp_path_factory.mktemp("login-data")
    secrets = data / "secrets.toml"
    secrets.write_text(f'[chainscan.passwords]\nclinician = "{hash_password("correct horse", iterations=1000)}"\n',
                       encoding="utf-8")
    srv = StreamlitServer(env={"CHAINSCAN_DB": str(data / "history.db"), "CHAINSCAN_FILES": str(data / "files"),
                               "CHAINSCAN_AUTH": "password"}, extra_args=("--secrets.files", str(secrets)))
    try:
        srv.wait_ready(timeout=60)
        yield srv
    finally:
        srv.stop()


def test_password_login_page(password_server, browser):
    from selenium.webdriver.common.keys import Keys

    with explained(browser, password_server, "login"):
        browser.get(password_server.url)
        wait_for_text(browser, "User name", timeout=60)
        text = body_text(browser)
        assert "Password" in text and "Analyse a video" not in text        # nothing of the app before logging in
        screenshot(browser, "8-login")
        browser.find_element("css selector", 'input[aria-label="User name"]').send_keys("clinician")
        pw = browser.find_element("css selector", 'input[aria-label="Password"]')
        pw.send_keys("correct horse", Keys.ENTER)
        wait_for_text(browser, "Logged in as clinician", timeout=60)
        wait_for_text(browser, SAMPLE_TEXT, timeout=90)
