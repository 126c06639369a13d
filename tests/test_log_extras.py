"""No log call passes an `extra={...}` key that a log record already has (`created`, `name`,
`msg`, `module`, …): `logging` raises KeyError at such a call, so a request that logs one answers
500 after its work is done (issue 13: every limit import did). Read from the source files (ast), so
a call no test reaches is checked too."""

import ast
from collections.abc import Iterator
from pathlib import Path

from regstd.runtime.logs import RECORD_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("contracts", "libs", "services", "cli", "bench", "tests")


def extra_keys(path: Path) -> Iterator[tuple[int, str]]:
    """Every literal key of an `extra={...}` (or `extra=dict(...)`) argument in a file, with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg != "extra":
                continue
            value = keyword.value
            if isinstance(value, ast.Dict):
                for key in value.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        yield key.lineno, key.value
            elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
                yield from ((value.lineno, k.arg) for k in value.keywords if k.arg is not None)


def python_files() -> Iterator[Path]:
    for folder in SOURCES:
        yield from (p for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def test_no_log_extra_overwrites_a_record_attribute() -> None:
    clashes = [
        f"{path.relative_to(ROOT)}:{line}: extra key {key!r}"
        for path in python_files()
        for line, key in extra_keys(path)
        if key in RECORD_ATTRIBUTES
    ]
    assert not clashes, "log extras that logging refuses (rename them):\n" + "\n".join(clashes)


def test_the_scan_finds_a_clash(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'log.info("x", extra={"created": True, "rows": 3})\nlog.info("y", extra=dict(name=1))\n'
    )
    assert [k for _, k in extra_keys(sample) if k in RECORD_ATTRIBUTES] == ["created", "name"]
