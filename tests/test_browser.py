"""The dashboard in a real browser (Debian's Chromium through Selenium and /usr/bin/chromedriver).

What Streamlit's AppTest cannot reach: the sample result rendering, a real file upload and the annotated
<video> playing, and the webcam path end to end (Chromium's fake camera → WebRTC → the frame callback →
the pose model → the protocol status on the page). Screenshots go to /tmp/chainscan-*.png.

Run: ``pytest -m browser`` (skipped when Chromium, chromedriver or selenium is missing).
"""

from __future__ import annotations

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
    wait_for_text,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(missing_browser() is not None,
                                                      reason=missing_browser() or "")]

SAMPLE_TEXT = "bundled sample"


@pytest.fixture(scope="module")
def server():
    if not (ROOT / "app.py").is_file():
        pytest.skip("app.py does not exist yet")
    srv = StreamlitServer()
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


def _open(driver, server) -> None:
    driver.get(server.url)
    wait_until(lambda: driver.find_elements("css selector", '[data-testid="stSidebar"]'), 30, "the app to load")


def _video_state(driver, video) -> dict:
    return driver.execute_script(
        "const v = arguments[0]; return {ready: v.readyState, t: v.currentTime, w: v.videoWidth, "
        "src: v.currentSrc, err: v.error ? v.error.code : null, paused: v.paused};", video)


def test_app_opens_with_the_sample_result(server, browser):
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
    clip = make_y4m(ROOT / "test_videos" / "single_leg_stance_right.mp4", tmp_path / "camera.y4m", seconds=6)
    driver = make_driver(("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          f"--use-file-for-fake-video-capture={clip}"))
    try:
        yield driver
    finally:
        quit_driver(driver)


def test_webcam_page_live_path_end_to_end(server, fake_camera_browser):
    driver = fake_camera_browser
    _open(driver, server)
    wait_for_text(driver, SAMPLE_TEXT, timeout=90)
    click_sidebar_page(driver, "Screen with the webcam")
    wait_for_text(driver, "Screen with the webcam", timeout=30)
    wait_for_text(driver, "Camera off", timeout=30)
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
    assert re.search(r"Setup|Get ready|Rep \d|leg: \d", text), text[-1500:]
    fps = re.search(r"(\d+) frames/s analysed · (\d+) ms per frame · (\d+) dropped", text)
    assert fps, text[-1500:]

    with in_frame(driver, iframe):
        video = wait_until(lambda: next((v for v in driver.find_elements("css selector", "video")
                                         if driver.execute_script("return arguments[0].videoWidth", v) > 0), None),
                           30, "the returned (overlay) video")
        info = driver.execute_script("const v = arguments[0]; return [v.videoWidth, v.videoHeight, v.readyState]",
                                     video)
        assert info[0] > 0 and info[2] >= 2
    time.sleep(1.0)  # let a few overlay frames arrive for the picture
    screenshot(driver, "4-webcam-live")
    # the protocol moves on by itself when the fake camera's person passes the setup check
    try:
        wait_until(lambda: re.search(r"Get ready|Rep \d|leg: \d", body_text(driver)), 20, "the countdown")
        screenshot(driver, "5-webcam-protocol")
    except TimeoutError:
        screenshot(driver, "5-webcam-still-in-setup")
    print(f"live: {m.group(0)}; {fps.group(0)}")
