"""The rooms of the service keep to their imports: the domain is pure, the use cases know no MongoDB
or HTTP, no module reaches for another module's private names."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "regstd" / "publication"


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """Each imported module of a file with the names taken from it."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def modules(room: str) -> list[Path]:
    return sorted((PACKAGE / room).glob("*.py"))


@pytest.mark.parametrize("path", modules("domain"), ids=lambda p: p.name)
def test_the_domain_imports_only_the_standard_library_pydantic_the_kernel_and_the_contracts(
    path: Path,
) -> None:
    allowed = ("pydantic", "regstd.kernel", "regstd.contracts", "regstd.publication.domain")
    for module, _ in imports(path):
        top = module.split(".")[0]
        assert top in sys.stdlib_module_names or module.startswith(allowed), f"{path.name} imports {module}"


@pytest.mark.parametrize("path", modules("app"), ids=lambda p: p.name)
def test_the_use_cases_know_no_storage_or_http(path: Path) -> None:
    forbidden = ("pymongo", "bson", "fastapi", "regstd.publication.adapters", "regstd.publication.http")
    for module, _ in imports(path):
        assert not module.startswith(forbidden), f"{path.name} imports {module}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_takes_another_modules_private_names(path: Path) -> None:
    for module, names in imports(path):
        if module.startswith("regstd."):
            assert not [n for n in names if n.startswith("_")], f"{path.name} takes private names of {module}"
