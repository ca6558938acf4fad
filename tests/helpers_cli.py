"""Shared CLI checks for the tests."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chainscan.cli import app


def reanalyse_reuses_stored_baseline(out: Path, again: Path, result: dict) -> dict:
    """``chainscan reanalyse OUT/pose.npz`` (no --baseline) takes the baseline stored in ``out``, says so, and
    gives ``result`` again (the ``created`` stamps aside). Returns the new result."""
    r = CliRunner().invoke(app, ["reanalyse", str(out / "pose.npz"), "--out", str(again)])
    assert r.exit_code == 0, r.output
    assert "separate standing clip stored with it" in r.output
    new = json.loads((again / "result.json").read_text())
    assert {k: v for k, v in new.items() if k != "created"} == {k: v for k, v in result.items() if k != "created"}
    assert (again / "baseline_pose.npz").is_file()
    return new
