"""The packaged reference data is the project's shared reference data, and reads as expected."""

import json
import os
from pathlib import Path

from regstd.contracts.reference import REGIONS_FILE, load_reference

SHARED = Path(os.environ.get("REGSTD_SHARED_DIR", Path(__file__).parents[3] / "shared"))


def test_the_packaged_copy_equals_the_shared_reference() -> None:
    shared = SHARED / "reference" / "regions.json"
    assert shared.exists(), f"the shared reference data is missing at {shared} (set REGSTD_SHARED_DIR)"
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
