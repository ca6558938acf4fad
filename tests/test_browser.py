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
    srv = StreamlitServer(env={"CHAINSCAN_DB": str(data / "history.db"), "CHAINSCAN_FILES": str(data / "files")})
    try:
        srv.wait_ready(timeout=60)
        yield srv
    finally:
        srv.stop()


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

    def video_tab():
        for tab in browser.find_elements("css selector", '[data-testid="stTab"]'):
            if "Video" in tab.text:
                return tab
        return None

    tab = wait_until(video_tab, 60, "the 'Video and key frames' tab")
    browser.execute_script("arguments[0].click()", tab)

    def visible_video():
        for v in browser.find_elements("css selector", "video"):
            if v.is_displayed() and "double" in (browser.execute_script("return document.body.innerText") or ""):
                return v
        return None

    video = wait_until(visible_video, 120, "the annotated <video>")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].muted = true;", video)
    wait_until(lambda: _video_state(browser, video)["ready"] >= 2, 30, "video.readyState >= 2")
    t0 = _video_state(browser, video)["t"]
    browser.execute_script("arguments[0].play();", video)
    st = wait_until(lambda: (s := _video_state(browser, video))["t"] > t0 + 0.3 and s, 20,
                    "the video's currentTime to advance")
    assert st["err"] is None and st["w"] > 0
    browser.execute_script("arguments[0].pause();", video)
    screenshot(browser, "2-uploaded-video", full_page=False)
    screenshot(browser, "2-uploaded-result")


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
    assert "Findings" in text
    reps = re.search(r"as chosen; (\d+) reps?", text)
    # the recording starts with the countdown, so it may hold more squats than were counted
    assert reps and int(reps.group(1)) >= LIVE_REPS, text[:3000]
    assert not _error_boxes(driver), _error_boxes(driver)
    assert "Traceback" not in text and "Nothing was recorded" not in text
    screenshot(driver, "webcam-result")
    wait_app_idle(driver, 60)  # resizing for the full-page shot can set off another run: still no error
    assert not _error_boxes(driver) and "Double-leg squat" in body_text(driver), _error_boxes(driver)
    print(f"live: {m.group(0)}; {fps.group(0)}; phases {seen}; screened reps {reps.group(1)}; "
          f"{time.monotonic() - t_start:.0f} s")
