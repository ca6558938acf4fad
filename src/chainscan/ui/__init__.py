"""The Streamlit dashboard (``streamlit run app.py``): layout only; every number comes from the library.

``main`` is the dashboard's entry function (bound here after the ``main`` submodule is imported, so the
name refers to the function, not the module).
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
