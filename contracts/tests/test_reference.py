"""The packaged reference data is the project's shared reference data, and reads as expected."""

import json
import os
from pathlib import Path

import pytest

from regstd.contracts.reference import REGIONS_FILE, load_reference

REPOSITORY = Path(__file__).parents[2]


def shared_reference() -> Path | None:
    """The project's shared `reference/regions.json`: from REGSTD_SHARED_DIR, or in a `shared/` folder
    beside the repository or beside any folder above it (a clone may sit anywhere)."""
    if "REGSTD_SHARED_DIR" in os.environ:
        return Path(os.environ["REGSTD_SHARED_DIR"]) / "reference" / "regions.json"
    for folder in REPOSITORY.parents:
        candidate = folder / "shared" / "reference" / "regions.json"
        if candidate.exists():
            return candidate
    return None


def test_the_packaged_copy_equals_the_shared_reference() -> None:
    shared = shared_reference()
    if shared is None:
        # A clone outside the project's folder has no shared data beside it; say so in the summary.
        pytest.skip(f"no shared/reference/regions.json above {REPOSITORY}: set REGSTD_SHARED_DIR to compare")
    assert shared.exists(), f"the shared reference data is missing at {shared} (REGSTD_SHARED_DIR)"
    assert json.loads(REGIONS_FILE.read_text(encoding="utf-8")) == json.loads(
        shared.read_text(encoding="utf-8")
    ), "contracts/src/regstd/contracts/regions.json differs from shared/reference/regions.json: copy it over"


def test_areas_parties_and_blocks() -> None:
    reference = load_reference()
    chengyu, yrd, yangtze = (reference.area(a) for a in ("chengyu", "yrd", "yangtze"))
    assert chengyu.parties == ("50", "51")
    assert chengyu.joint_number_block_first == 10001
    assert yrd.joint_number_block_first == 310001
    assert len(yrd.parties) == 4
    assert yangtze.joint_number_block_first is None
    assert len(yangtze.parties) == 11
    assert reference.region("50").standard_code == "DB50"
    assert reference.rule_value("public_comment_min_days") == 30
    assert reference.partner_cities["510100"].name_zh == "成都市"
