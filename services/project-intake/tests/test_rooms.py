"""The domain is pure: it imports only the standard library, pydantic, the kernel, the contracts and
itself, never the runtime or any I/O library."""

import ast
import sys
from pathlib import Path

import regstd.intake.domain

ALLOWED = ("pydantic", "regstd.kernel", "regstd.contracts", "regstd.intake.domain")
FORBIDDEN = (
    "regstd.runtime",
    "pymongo",
    "bson",
    "fastapi",
    "faststream",
    "aiokafka",
    "opentelemetry",
    "httpx",
    "regstd.intake.app",
    "regstd.intake.adapters",
    "regstd.intake.http",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_domain_imports_only_the_kernel_the_contracts_pydantic_and_the_standard_library() -> None:
    folder = Path(regstd.intake.domain.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert {f.stem for f in files} >= {"ballot", "clocks", "overlap", "project", "proposal", "published"}
    for file in files:
        for module in imported_modules(file):
            assert not module.startswith(FORBIDDEN), f"{file.name} imports {module}"
            if module.split(".")[0] not in sys.stdlib_module_names:
                assert module.startswith(ALLOWED), f"{file.name} imports {module}"
