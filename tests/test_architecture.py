"""The floor plan holds: every service has the same rooms, a domain is pure, the kernel does no I/O,
nothing reaches into another service, and every package declares what it imports.

Read from the source files (ast), so a forbidden import fails here even in code no test runs.
"""

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "project-intake": "intake",
    "publication": "publication",
    "harmonization": "harmonization",
}
# The console has no domain of its own (decision 0031): pages over the three services' APIs.
FRONT_ENDS = {"console": "console"}
ROOMS = ("domain", "app", "adapters", "http")
FRONT_END_ROOMS = ("app", "adapters", "http")
PURE_THIRD_PARTY = {"pydantic", "chinese_calendar", "holidays"}
PACKAGES = {
    "contracts": "contracts",
    "libs/kernel": "kernel",
    "libs/runtime": "runtime",
    **{f"services/{folder}": name for folder, name in (SERVICES | FRONT_ENDS).items()},
    "cli": "cli",
    "bench": "bench",
}


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """Every absolute module a file imports, anywhere in it (also inside functions), with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def package_dir(member: str, name: str) -> Path:
    return ROOT / member / "src" / "regstd" / name


def offending(files: list[Path], allowed: set[str]) -> list[str]:
    """`file:line module` for every import outside the standard library and `allowed` prefixes."""
    found = []
    for path in files:
        for line, module in imports_of(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names and top != "regstd":
                continue
            if any(module == a or module.startswith(a + ".") for a in allowed):
                continue
            found.append(f"{path.relative_to(ROOT)}:{line} {module}")
    return found


@pytest.mark.parametrize("folder", [*SERVICES, *FRONT_ENDS])
def test_every_service_has_the_same_rooms(folder: str) -> None:
    package = package_dir(f"services/{folder}", (SERVICES | FRONT_ENDS)[folder])
    rooms = FRONT_END_ROOMS if folder in FRONT_ENDS else ROOMS
    missing = [room for room in rooms if not (package / room / "__init__.py").is_file()]
    assert not missing, f"{package.relative_to(ROOT)} lacks the rooms {missing}"
    assert (package / "main.py").is_file(), f"{package.relative_to(ROOT)} has no main.py (wiring)"
    loose = sorted(
        p.name for p in package.glob("*.py") if p.name not in {"__init__.py", "main.py", "settings.py"}
    )
    assert not loose, f"modules outside the rooms in {package.relative_to(ROOT)}: {loose}"


@pytest.mark.parametrize("folder", SERVICES)
def test_a_domain_imports_only_the_kernel_and_the_contracts(folder: str) -> None:
    name = SERVICES[folder]
    domain = package_dir(f"services/{folder}", name) / "domain"
    allowed = {"regstd.kernel", "regstd.contracts", f"regstd.{name}.domain", *PURE_THIRD_PARTY}
    assert sources(domain), f"no domain modules in {domain}"
    assert offending(sources(domain), allowed) == []


def test_the_kernel_does_no_io_and_never_depends_on_the_runtime() -> None:
    kernel = package_dir("libs/kernel", "kernel")
    allowed = {"regstd.kernel", "regstd.contracts", *PURE_THIRD_PARTY}
    assert offending(sources(kernel), allowed) == []


@pytest.mark.parametrize("folder", [*SERVICES, *FRONT_ENDS])
def test_a_service_imports_no_other_service(folder: str) -> None:
    every = SERVICES | FRONT_ENDS
    others = {f"regstd.{n}" for f, n in every.items() if f != folder} | {"regstd.cli", "regstd.bench"}
    # the console reaches the services only through their HTTP APIs, never their code
    others |= {"regstd.runtime"} if folder in FRONT_ENDS else set()
    files = sources(package_dir(f"services/{folder}", every[folder]))
    crossing = [
        f"{p.relative_to(ROOT)}:{line} {m}"
        for p in files
        for line, m in imports_of(p)
        if any(m == o or m.startswith(o + ".") for o in others)
    ]
    assert crossing == []


def test_the_runtime_imports_no_service() -> None:
    services = {f"regstd.{n}" for n in (SERVICES | FRONT_ENDS).values()} | {"regstd.cli", "regstd.bench"}
    files = sources(package_dir("libs/runtime", "runtime"))
    crossing = [m for p in files for _, m in imports_of(p) if ".".join(m.split(".")[:2]) in services]
    assert crossing == []


@pytest.mark.parametrize("folder", [*SERVICES, *FRONT_ENDS])
def test_the_use_cases_know_no_storage_and_no_http(folder: str) -> None:
    name = (SERVICES | FRONT_ENDS)[folder]
    forbidden = (
        *("pymongo", "bson", "fastapi", "starlette", "httpx", "jinja2"),
        f"regstd.{name}.adapters",
        f"regstd.{name}.http",
    )
    files = sources(package_dir(f"services/{folder}", name) / "app")
    reaching = [
        f"{p.relative_to(ROOT)}:{line} {m}"
        for p in files
        for line, m in imports_of(p)
        if any(m == f or m.startswith(f + ".") for f in forbidden)
    ]
    assert reaching == []


@pytest.mark.parametrize("member", PACKAGES)
def test_no_module_takes_another_modules_private_names(member: str) -> None:
    taking = []
    for path in sources(package_dir(member, PACKAGES[member])):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").startswith("regstd.")
            ):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private:
                    taking.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module} {private}")
    assert taking == []


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _files_of(dist: str) -> frozenset[str]:
    return frozenset(str(f) for f in distribution(dist).files or ())


def distributions_of(module: str) -> set[str]:
    """The installed distributions that can provide `module`: for a namespace shared by several
    (`opentelemetry`), the ones holding its second level (`opentelemetry/sdk/`)."""
    parts = module.split(".")
    if parts[0] == "regstd":
        return {f"regstd-{parts[1]}"} if len(parts) > 1 else set()
    candidates = packages_distributions().get(parts[0], [parts[0]])
    if len(candidates) > 1 and len(parts) > 1:
        prefix = f"{parts[0]}/{parts[1]}"
        holding = [d for d in candidates if any(f.startswith(prefix) for f in _files_of(d))]
        candidates = holding or candidates
    return {_normal(d) for d in candidates}


def _declared(member: str) -> set[str]:
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = set()
    for requirement in project.get("dependencies", []):
        name = requirement.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        names.add(_normal(name.strip()))
    return names


@pytest.mark.parametrize("member", PACKAGES)
def test_every_package_declares_what_it_imports(member: str) -> None:
    """A module imported by a package's source must come from a distribution it declares, so that
    installing that package alone (`uv sync --package …`) gives everything it needs."""
    name = PACKAGES[member]
    own = f"regstd-{name}"
    declared = _declared(member) | {own}
    undeclared = set()
    for path in sources(package_dir(member, name)):
        for line, module in imports_of(path):
            if module.split(".")[0] in sys.stdlib_module_names:
                continue
            needed = distributions_of(module)
            if needed and not needed & declared:
                undeclared.add(f"{path.relative_to(ROOT)}:{line} {module} (from {', '.join(sorted(needed))})")
    assert sorted(undeclared) == [], f"{member}/pyproject.toml does not declare these imports"
