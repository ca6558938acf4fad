from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_VIDEOS = ROOT / "test_videos"
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def test_videos() -> Path:
    return TEST_VIDEOS


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA
