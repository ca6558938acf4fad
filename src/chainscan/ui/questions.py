"""Optional answers that shape the foot-first plan (and the report): where it hurts, the wet-foot arch
test, sex. Widgets only; the plan logic is :func:`chainscan.recommendations.recommend`."""

from __future__ import annotations

import streamlit as st

from ..errors import ChainscanError
from ..recommendations import Answers

PAIN_LABELS = {"knee": "Knee", "hip": "Hip", "low_back": "Low back", "foot": "Foot"}
ARCH_LABELS = {"Not tested": None, "Neutral (in between)": "neutral", "High (a thin band)": "high",
               "Flat (a full print)": "flat"}
SEX_LABELS = {"Not given": None, "Female": "female", "Male": "male"}

ARCH_HOWTO = ("**Wet-foot test:** wet the sole of the foot, stand normally on a sheet of paper or a dark tile, "
              "step off and look at the print. A full print of the whole sole is a *flat* arch; only a thin "
              "band joining heel and forefoot is a *high* arch; in between is *neutral*.")


def ask_answers(key: str) -> Answers:
    """Render the questions (all optional) and return the answers; invalid combinations fall back to none."""
    c1, c2, c3 = st.columns([2, 2, 1])
    pain = c1.multiselect("Where does it hurt? (optional)", list(PAIN_LABELS), format_func=lambda a: PAIN_LABELS[a],
                          key=f"{key}:pain", help="Pain changes which exercises come first and adds cautions.")
    arch = c2.selectbox("Arch (wet-foot test)", list(ARCH_LABELS), key=f"{key}:arch")
    sex = c3.selectbox("Sex", list(SEX_LABELS), key=f"{key}:sex",
                       help="Only used to say which reference values apply.")
    with c2.popover("How to do the wet-foot test"):
        st.markdown(ARCH_HOWTO)
    try:
        return Answers(pain=tuple(pain), arch=ARCH_LABELS[arch], sex=SEX_LABELS[sex])
    except ChainscanError as e:  # cannot happen with these widgets; never crash the page over it
        st.error(str(e))
        return Answers()
