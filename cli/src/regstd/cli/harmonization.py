"""The harmonization commands: import limits, run an assessment, decide an adoption, query the
adoption registry, the yearly summary. Each acts as one principal of the token book."""

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from regstd.cli.client import Api, ApiError
from regstd.cli.people import ActingAs, Book, open_api

harmonization = typer.Typer(
    help="Eco-standard adoption (采信) and the difference analysis (差异分析评估).", no_args_is_help=True
)
console = Console()
OUTPUTS = ("table", "json", "csv", "markdown", "html")


def call_harmonization(api: Api, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return api.harmonization(method, path, **kwargs)
    except ApiError as error:
        console.print(f"[red]refused[/red] {error}", highlight=False)
        rows = error.body.get("rows") if isinstance(error.body, dict) else None
        for row in rows or []:
            console.print(f"  line {row['line']}: {row['reason']}", highlight=False, markup=False)
        raise typer.Exit(1) from error
    finally:
        api.close()


@harmonization.command("import")
def import_limits(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV or JSON file of limits.")],
    acting_as: ActingAs,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Import your region's limits: all rows or none; every bad row is named with its line."""
    fmt = "csv" if file.suffix.lower() == ".csv" else "json"
    content_type = "text/csv" if fmt == "csv" else "application/json"
    done = call_harmonization(
        open_api(tokens, acting_as),
        "POST",
        "/limits/imports",
        params={"format": fmt},
        content=file.read_bytes(),
        headers={"Content-Type": content_type},
    )
    state = "imported" if done["created"] else "already imported"
    console.print(f"{state}: {done['import_id']} ({done['rows']} rows of region {done['region']})")


@harmonization.command()
def assess(
    acting_as: ActingAs,
    region: Annotated[list[str], typer.Option(help="A region to compare (repeat).")],
    medium: Annotated[
        list[str] | None, typer.Option(help="air, water, soil, hazardous_waste, noise.")
    ] = None,
    policy: Annotated[str, typer.Option(help="strictest, median or baseline_capped.")] = "strictest",
    output: Annotated[str, typer.Option(help="table, json, csv, markdown or html.")] = "table",
    tokens: Book = Path("var/local.json"),
) -> None:
    """Run a difference analysis over regions' latest imports; print the report."""
    _check_output(output)
    body: dict[str, Any] = {"regions": region, "policy": policy} | ({"media": medium} if medium else {})
    done = call_harmonization(open_api(tokens, acting_as), "POST", "/assessments", json=body)
    show_assessment(done["assessment_id"], acting_as, output, tokens)


@harmonization.command("report")
def show_assessment(
    assessment_id: str,
    acting_as: ActingAs = "ops",
    output: Annotated[str, typer.Option(help="table, json, csv, markdown or html.")] = "table",
    tokens: Book = Path("var/local.json"),
) -> None:
    """Print a stored assessment's report."""
    _check_output(output)
    fmt = output if output in ("csv", "markdown", "html") else "json"
    report = call_harmonization(
        open_api(tokens, acting_as), "GET", f"/assessments/{assessment_id}", params={"format": fmt}
    )
    if output != "table":
        console.print(
            report if isinstance(report, str) else json.dumps(report, ensure_ascii=False, indent=2),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return
    body = report["report"]
    table = Table(title=f"{assessment_id} ({body['policy']}; inputs {body['inputs_digest'][:12]}…)")
    for column in (
        "medium",
        "category",
        "parameter",
        "condition",
        "unit",
        *body["regions"],
        "strictest",
        "spread",
        "baseline",
        "looser",
        "proposed",
    ):
        table.add_column(column)
    for p in body["parameters"]:
        values = [_num(p["values"][r]["value"]) if r in p["values"] else "—" for r in body["regions"]]
        table.add_row(
            p["medium"],
            p["source_category"],
            p["parameter"],
            p["condition"],
            p["unit"],
            *values,
            " ".join(p["strictest"]),
            _num(p["spread"]),
            _num(p["national_baseline"]),
            " ".join(p["looser_than_baseline"]),
            _num(p["proposed"]["value"]),
        )
    console.print(table)
    # The baseline column shows the value used; where the rows disagreed, say so and by which rule.
    for d in body.get("baseline_disagreements", []):
        given = "; ".join(
            f"{g['region']}={_num(g['national_baseline'])} ({g['standard_number']})" for g in d["given"]
        )
        console.print(
            f"national baselines differ for {d['parameter']} ({d['medium']}, {d['source_category']}"
            f"{', ' + d['condition'] if d['condition'] else ''}): {given}; {d['rule']}: "
            f"{_num(d['national_baseline_used'])} {d['unit']} used",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@harmonization.command()
def adopt(
    standard_id: str,
    acting_as: ActingAs,
    decision: Annotated[str, typer.Option(help="adopt, adopt_with_modifications or decline.")],
    scope: Annotated[str | None, typer.Option(help="Where it applies in your region.")] = None,
    effective: Annotated[str | None, typer.Option(help="From when it applies (YYYY-MM-DD).")] = None,
    modification: Annotated[list[str] | None, typer.Option(help="A difference (repeat).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (to decline).")] = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Record your region's decision on an offered eco standard (only for your own region, once)."""
    body = {
        "member": acting_as,
        "decision": decision,
        "scope": scope,
        "effective_date": effective,
        "modifications": modification or [],
        "reason": reason,
    }
    _show_offer(
        call_harmonization(
            open_api(tokens, acting_as), "POST", f"/adoptions/standards/{standard_id}/decisions", json=body
        )
    )


@harmonization.command()
def offers(
    acting_as: ActingAs = "ops",
    member: Annotated[str | None, typer.Option(help="Offered to this member.")] = None,
    source: Annotated[str | None, typer.Option(help="Published by this member.")] = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Eco standards offered for adoption, with every member's decision."""
    params = {k: v for k, v in {"member": member, "source": source}.items() if v}
    for offer in call_harmonization(
        open_api(tokens, acting_as), "GET", "/adoptions/standards", params=params
    ):
        _show_offer(offer)


@harmonization.command()
def registry(
    acting_as: ActingAs = "ops",
    member: Annotated[str | None, typer.Option(help="Decisions of this member.")] = None,
    source: Annotated[str | None, typer.Option(help="On standards of this member.")] = None,
    elsewhere: Annotated[
        bool, typer.Option(help="With --source: only its standards adopted elsewhere.")
    ] = False,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Who adopted which standard, since when, where it applies."""
    api = open_api(tokens, acting_as)
    if elsewhere and source:
        rows = [
            r
            for s in call_harmonization(api, "GET", f"/adoptions/adopted-elsewhere/{source}")
            for r in s["adopted_by"]
        ]
    else:
        params = {k: v for k, v in {"member": member, "source": source}.items() if v}
        rows = call_harmonization(api, "GET", "/adoptions/registry", params=params)
    table = Table(title="Adoption registry (采信)")
    for column in (
        "standard",
        "source",
        "member",
        "decision",
        "since",
        "where",
        "modifications / reason",
        "source",
    ):
        table.add_column(column)
    for r in rows:
        detail = "; ".join(r["modifications"]) or r["reason"] or ""
        table.add_row(
            r["number"],
            " ".join(r["sources"]),
            r["member"],
            r["decision"],
            r["effective_date"] or "",
            r["scope"] or "",
            detail,
            r["source_status"],
        )
    console.print(table)


@harmonization.command()
def summary(
    year: int,
    acting_as: ActingAs = "ops",
    output: Annotated[str, typer.Option(help="markdown (a table) or json.")] = "markdown",
    tokens: Book = Path("var/local.json"),
) -> None:
    """The yearly summary per member and per standard, for the white paper."""
    fmt = "json" if output == "json" else "markdown"
    made = call_harmonization(
        open_api(tokens, acting_as), "GET", f"/adoptions/summary/{year}", params={"format": fmt}
    )
    text = json.dumps(made, ensure_ascii=False, indent=2) if fmt == "json" else made
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        console.print(f"[red]unknown output {output!r}[/red]; one of {', '.join(OUTPUTS)}")
        raise typer.Exit(2)


def _num(value: float | None) -> str:
    """A reported number as written in the report's other formats: 150, 0.15, never 150.0."""
    return "—" if value is None else format(Decimal(repr(value)).normalize(), "f")


def _show_offer(offer: dict[str, Any]) -> None:
    numbers = " = ".join(n["number"] for n in offer["numbers"])
    console.print(
        f"[bold]{numbers}[/bold] {offer['title_zh']} ({offer['standard_id']}, {offer['source_status']})",
        highlight=False,
    )
    decided = {d["member"]: d for d in offer["decisions"]}
    table = Table()
    for column in ("member", "decision", "since", "where", "modifications / reason"):
        table.add_column(column)
    for member in offer["offered_to"]:
        d = decided.get(member)
        if d is None:
            table.add_row(member, "pending", "", "", "")
        else:
            detail = "; ".join(d["modifications"]) or d["reason"] or ""
            table.add_row(member, d["decision"], d["effective_date"] or "", d["scope"] or "", detail)
    console.print(table)
