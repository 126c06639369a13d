"""Exported JSON Schemas of the event models, and the rule that keeps a major version compatible.

The committed schemas in `schemas/` are the published contract. Within a major version a change may
only add optional fields; `breaking_changes` names anything else. `python -m regstd.contracts.schemas`
rewrites the committed files and refuses a breaking change (that needs a new major version).
"""

import json
import sys
from pathlib import Path
from typing import Any

from regstd.contracts.envelope import EVENT_TYPES, EventModel

SCHEMA_DIR = Path(__file__).parent / "schemas"

Schema = dict[str, Any]


def export_schema(model: type[EventModel]) -> Schema:
    """The JSON Schema of an event's data, labelled with its CloudEvents type and topic."""
    schema = model.model_json_schema(mode="validation")
    return {"$id": model.event_type, "x-topic": model.topic.name, **schema}


def schema_path(event_type: str) -> Path:
    """Where the committed schema of an event type lives."""
    return SCHEMA_DIR / f"{event_type}.json"


def load_committed(event_type: str) -> Schema | None:
    """The committed schema of an event type, or None if it was never exported."""
    path = schema_path(event_type)
    if not path.exists():
        return None
    loaded: Schema = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def render(schema: Schema) -> str:
    """The canonical text of a schema file, so that diffs stay small and stable."""
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """What in `new` breaks producers or consumers written against `old`; empty when compatible."""
    problems: list[str] = []
    _compare(old, new, old, new, "$", problems)
    return problems


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {})[name]
    return schema


def _variants(schema: Schema, root: Schema) -> list[Schema]:
    schema = _resolve(schema, root)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return [_resolve(o, root) for o in options]
    return [schema]


def _signature(schema: Schema) -> str:
    kind = schema.get("type", "any")
    if "const" in schema:
        return f"const:{schema['const']!r}"
    if "enum" in schema:
        return f"enum:{sorted(map(repr, schema['enum']))}"
    fmt = schema.get("format")
    return f"{kind}:{fmt}" if fmt else str(kind)


def _compare(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, at: str, problems: list[str]
) -> None:
    old_variants = _variants(old, old_root)
    new_variants = _variants(new, new_root)
    old_sigs = sorted(_signature(v) for v in old_variants)
    new_sigs = sorted(_signature(v) for v in new_variants)
    if old_sigs != new_sigs:
        problems.append(f"{at}: type changed from {' | '.join(old_sigs)} to {' | '.join(new_sigs)}")
        return
    for old_v, new_v in zip(
        sorted(old_variants, key=_signature), sorted(new_variants, key=_signature), strict=True
    ):
        if old_v.get("type") == "object":
            _compare_object(old_v, new_v, old_root, new_root, at, problems)
        elif old_v.get("type") == "array" and "items" in old_v:
            _compare(old_v["items"], new_v.get("items", {}), old_root, new_root, f"{at}[]", problems)


def _compare_object(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, at: str, problems: list[str]
) -> None:
    old_props: Schema = old.get("properties", {})
    new_props: Schema = new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"{at}.{name}: field removed or renamed")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{at}.{name}: field is required now (new fields must be optional)")
    for name, old_prop in old_props.items():
        if name in new_props:
            _compare(old_prop, new_props[name], old_root, new_root, f"{at}.{name}", problems)
    old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_extra, dict):
        _compare(
            old_extra,
            new_extra if isinstance(new_extra, dict) else {},
            old_root,
            new_root,
            f"{at}{{}}",
            problems,
        )


def export_all(check_only: bool = False) -> list[str]:
    """Write every registered event's schema; return the problems that stopped a write."""
    problems: list[str] = []
    SCHEMA_DIR.mkdir(exist_ok=True)
    for event_type, model in sorted(EVENT_TYPES.items()):
        current = export_schema(model)
        committed = load_committed(event_type)
        breaking = [] if committed is None else breaking_changes(committed, current)
        if breaking:
            problems += [f"{event_type} {p}" for p in breaking]
            continue
        if not check_only:
            schema_path(event_type).write_text(render(current), encoding="utf-8")
    return problems


def main() -> None:
    """Command line: rewrite the committed schemas, refusing breaking changes."""
    problems = export_all(check_only="--check" in sys.argv[1:])
    for problem in problems:
        print(f"breaking change: {problem}", file=sys.stderr)
    if problems:
        print(
            "A breaking change needs a new major version: a new event type on a new topic.",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print(f"{len(EVENT_TYPES)} event schemas in {SCHEMA_DIR}")


if __name__ == "__main__":
    main()
