"""The scenario `make run` plays sends what the register accepts: its final text at a web address
(a `file:` location is refused with 422 since issue 13, which stopped `make run` once)."""

from regstd.cli.demo import text_reference
from regstd.kernel.locations import location_problem


def test_the_scenarios_final_text_is_at_a_web_address_with_its_digest() -> None:
    text = text_reference("川渝地区高速公路服务区服务规范")
    assert location_problem(text["location"]) is None, text["location"]
    assert len(text["sha256"]) == 64
    assert text == text_reference("川渝地区高速公路服务区服务规范"), "the same title, the same reference"
