"""The dashboard's Streamlit settings (.streamlit/config.toml): no usage statistics leave the machine and
uploads are capped at a size the analysis can handle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"


@pytest.fixture(scope="module")
def config() -> dict:
    with CONFIG.open("rb") as f:
        return tomllib.load(f)


def test_usage_statistics_are_off(config):
    assert config["browser"]["gatherUsageStats"] is False


def test_upload_size_is_capped(config):
    limit = config["server"]["maxUploadSize"]  # megabytes (Streamlit's unit; its default is 200)
    assert isinstance(limit, int) and not isinstance(limit, bool)
    assert 100 <= limit <= 1024, f"maxUploadSize = {limit} MB: expected 100–1024 MB (minutes of 1080p video)"
    # a clip that uploads must also fit in one websocket message back to the browser
    assert config["server"].get("maxMessageSize", 200) >= limit


def test_streamlit_reads_these_settings():
    """Streamlit itself, started in the project folder, sees the values (no typo in a section or key)."""
    code = ("import json; from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(json.dumps([config.get_option('browser.gatherUsageStats'), "
            "config.get_option('server.maxUploadSize')]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    with CONFIG.open("rb") as f:
        expected = tomllib.load(f)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, expected["server"]["maxUploadSize"]]
