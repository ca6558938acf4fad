"""Dashboard entry: page config, access control, sidebar navigation between the pages."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import streamlit as st

from .. import __version__

PAGES = ("Analyse a video", "Screen with the webcam", "History", "About")

#: pages written as separate modules, loaded only when opened (the webcam pulls in WebRTC)
OPTIONAL_PAGES = {"Screen with the webcam": "chainscan.ui.webcam", "History": "chainscan.ui.history"}

ABOUT = """
**chainscan** screens how the knee and the pelvis move during a **double-leg squat**, a **single-leg squat**
or a **single-leg stance**, from one video filmed from the front. It finds the body's landmarks with
MediaPipe pose, measures the knee's frontal-plane projection angle (FPPA, knee valgus), pelvic drop, trunk
lean and left/right differences, compares each with a threshold that has a cited source (or is marked
"heuristic"), and turns what it finds into a **foot-first exercise plan**: foot → ankle → knee → hip → trunk.

**A screen, not a diagnosis.** Angles from a single camera are estimates (knee angle SEM ≈ 3°, detectable
change ≈ 8°, Munro et al. 2012) and only a proxy for 3D knee motion; small pelvic drops are not measurable
with this pose model. Discuss pain or concerns with a physiotherapist or doctor, and stop any exercise that
causes pain.

**Privacy.** Everything runs on this computer: the pose model ships with the software, and videos are
analysed locally in a temporary folder. Every finished screening (the result, the landmarks, the annotated
video and the reports; faces blurred if you tick "Blur faces") is stored in the history on this computer,
where you can delete it. Nothing is uploaded, and no usage statistics or telemetry are sent.
"""


def _owner() -> str:
    """The signed-in owner id when an access-control module is installed, else "local"."""
    try:
        auth = importlib.import_module("chainscan.ui.auth")
    except ModuleNotFoundError as e:
        if e.name not in ("chainscan.ui.auth",):
            raise
        return "local"
    return str(auth.require_login())


def _optional_page(title: str, module: str) -> Callable[..., object] | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        return None
    return getattr(mod, "page", None)


def _call(page: Callable[..., object], owner: str) -> None:
    params = inspect.signature(page).parameters
    if "owner" in params:
        page(owner=owner)
    elif params:
        page(owner)
    else:
        page()


def _about() -> None:
    st.title("About chainscan")
    st.markdown(ABOUT)
    st.caption(f"chainscan {__version__}")


def main() -> None:
    # an emoji favicon is drawn locally; a ":material/…" favicon would be fetched from fonts.gstatic.com
    st.set_page_config(page_title="chainscan — movement screen", page_icon="🦶", layout="wide",
                       menu_items={"About": "chainscan: a movement screen, not a diagnosis. Runs locally."})
    owner = _owner()
    with st.sidebar:
        st.markdown("## chainscan")
        st.caption("Knee valgus and pelvic drop from a frontal video, with a foot-first plan.")
        choice = st.radio("Go to", PAGES, key="nav", label_visibility="collapsed")
        st.divider()
        st.caption("A screen, not a diagnosis. Runs on this computer; nothing is uploaded.")

    if choice == "Analyse a video":
        from .analyse import page

        page(owner)
    elif choice == "About":
        _about()
    else:
        found = _optional_page(choice, OPTIONAL_PAGES[choice])
        if found is None:
            st.title(choice)
            st.info(f"{choice}: coming soon.")
        else:
            _call(found, owner)
