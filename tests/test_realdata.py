"""Real footage in ../shared/realdata (development material, never committed): skipped when absent."""

import pytest

from chainscan.errors import QualityGateFailed
from chainscan.landmarks import Side
from chainscan.pipeline import screen_video
from chainscan.types import TestType

pytestmark = [pytest.mark.realdata, pytest.mark.model]


@pytest.mark.parametrize("cam", ["cam01", "cam02"])
def test_pose2sim_balance_is_a_left_single_leg_stance(realdata, cam):
    result, pose = screen_video(realdata / "pose2sim_balance" / "videos" / f"{cam}.mp4")
    assert result.test is TestType.SINGLE_LEG_STANCE
    assert result.stance_side is Side.LEFT
    # the subject is small in a 1080x1920 frame: the distance gate says so
    assert not next(g for g in result.quality if g.gate == "distance").passed


def test_pose2sim_swaps_are_found(realdata):
    result, _ = screen_video(realdata / "pose2sim_balance" / "videos" / "cam02.mp4")
    assert result.clean.swapped["legs"].sum() > 0


@pytest.mark.parametrize("clip", ["squat_barbell_sagittal.mp4", "walking_sagittal_sports2d_demo.mp4"])
def test_side_view_clips_are_refused(realdata, clip):
    with pytest.raises(QualityGateFailed, match="side view"):
        screen_video(realdata / "clips" / clip, max_fps=15)
