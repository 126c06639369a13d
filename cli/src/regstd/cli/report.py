"""`regstd report`: an area's publications per period, cycle times against the target, reviews coming
due, missing filings (publication's `GET /reports/{area}`) and the projects past their target
(intake's `GET /projects/overdue?area=`), as tables, JSON or CSV. The command is a client of
both services; it combines their answers and never reads a database."""

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.table import Table

from regstd.cli.client import Api, ApiError
from regstd.cli.people import ActingAs, Book, console, open_api

reports = typer.Typer(no_args_is_help=True)
FORMATS = ("table", "json", "csv")
PUBLICATION_SECTIONS = ("periods", "cycle_times", "reviews", "filings")
SECTIONS = (*PUBLICATION_SECTIONS, "overdue_projects")


@reports.command("report")
def area_report(
    area: Annotated[str, typer.Option(help="Cooperation area: chengyu, yrd, yangtze.")],
    from_year: Annotated[int | None, typer.Option("--from", help="First year (default: the first).")] = None,
    to_year: Annotated[int | None, typer.Option("--to", help="Last year (default: this year).")] = None,
    granularity: Annotated[str, typer.Option(help="quarter or month.")] = "quarter",
    review_window: Annotated[
        int | None, typer.Option(help="Reviews due within this many days (default: the service's).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    section: Annotated[str, typer.Option(help=f"For csv: one of {', '.join(SECTIONS)}.")] = "periods",
    acting_as: ActingAs = "ops",
    tokens: Book = Path("var/local.json"),
) -> None:
    """An area's report: published per period, cycle time (立项 → 发布) against the target, reviews
    coming due, missing filings, projects past their target."""
    if output not in FORMATS:
        _refuse(f"unknown format {output!r}; one of {', '.join(FORMATS)}")
    if section not in SECTIONS:
        _refuse(f"unknown section {section!r}; one of {', '.join(SECTIONS)}")
    if granularity not in ("quarter", "month"):
        _refuse(f"unknown granularity {granularity!r}; quarter or month")
    params: dict[str, Any] = {"granularity": granularity}
    params |= {"from": from_year} if from_year is not None else {}
    params |= {"to": to_year} if to_year is not None else {}
    params |= {"review_window_days": review_window} if review_window is not None else {}
    api = open_api(tokens, acting_as)
    try:
        if output == "csv" and section in PUBLICATION_SECTIONS:
            text = api.text(
                "publication", f"/reports/{area}", params=params | {"format": "csv", "section": section}
            )
            typer.echo(text, nl=False)
            return
        report = api.publication("GET", f"/reports/{area}", params=params)
        overdue, problem = _overdue(api, area)
    except ApiError as error:
        console.print(f"[red]refused[/red] {error}", highlight=False)
        raise typer.Exit(1) from error
    finally:
        api.close()
    if output == "json":
        typer.echo(json.dumps(report | {"overdue_projects": overdue, "overdue_projects_problem": problem},
                              ensure_ascii=False, indent=2))  # fmt: skip
    elif output == "csv":
        if overdue is None:
            _refuse(f"the overdue projects are not available: {problem}", code=1)
        typer.echo(overdue_csv(overdue), nl=False)
    else:
        show(report, overdue, problem)


def _overdue(api: Api, area: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Intake's listing; the report is still shown when intake cannot answer."""
    try:
        answer = api.intake("GET", "/projects/overdue", params={"area": area, "clock": "cycle_time"})
    except ApiError as error:
        return None, str(error)
    except httpx.HTTPError as error:  # intake down
        return None, f"project intake did not answer: {error}"
    # One row per project, with its cycle-time clock's start (立项), deadline and days past it.
    return [
        {
            "project_id": item["project_id"],
            "area": item["area"],
            "parties": item["parties"],
            "title_zh": item["title_zh"],
            "status": item["status"],
            "project_approved_on": item["clock"]["starts_on"],
            "target_on": item["clock"]["due_on"],
            "days_overdue": item["clock"]["days_overdue"],
        }
        for item in answer["items"]
    ], None


def _refuse(message: str, code: int = 2) -> NoReturn:
    console.print(f"[red]{message}[/red]", highlight=False)
    raise typer.Exit(code)


def overdue_csv(items: list[dict[str, Any]]) -> str:
    """The overdue projects as CSV."""
    out = io.StringIO()
    columns = ["project_id", "area", "parties", "title_zh", "status", "project_approved_on", "target_on",
               "days_overdue"]  # fmt: skip
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow(" ".join(v) if isinstance(v := item[c], list) else v for c in columns)
    return out.getvalue()


def show(report: dict[str, Any], overdue: list[dict[str, Any]] | None, problem: str | None) -> None:
    """Print the report as tables."""
    target = report["cycle_time_target_months"]
    console.print(
        f"[bold]{report['area_name_zh']} {report['area_name_en']}[/bold] ({report['area']}), "
        f"{report['from_year']}–{report['to_year']}, as of {report['as_of']}; "
        f"cycle-time target {target} months",
        highlight=False,
    )
    counts = report["standards"]
    table = Table(title="Standards (all years)")
    for column in ("published", "in force", "superseded", "abolished", "revision pending"):
        table.add_column(column, justify="right")
    table.add_row(*(str(counts[k]) for k in ("published", "in_force", "superseded", "abolished",
                                            "revision_pending")))  # fmt: skip
    console.print(table)

    cycle = report["cycle_time"]
    table = Table(title="Cycle time, project approval (立项) → publication (发布)")
    for column in ("standards", "mean", "median", "p90", "min", "max", f"within {target} months"):
        table.add_column(column, justify="right")
    if cycle["count"]:
        share = f"{cycle['within_target']} ({cycle['share_within_target']:.0%})"
        table.add_row(str(cycle["count"]), f"{cycle['mean_days']} d ({cycle['mean_months']} months)",
                      f"{cycle['median_days']} d", f"{cycle['p90_days']} d", f"{cycle['min_days']} d",
                      f"{cycle['max_days']} d", share)  # fmt: skip
    else:
        table.add_row("0", "", "", "", "", "", "")
    console.print(table)
    table = Table(title="Distribution")
    table.add_column("months")
    table.add_column("standards", justify="right")
    table.add_column("")
    most = max((b["count"] for b in cycle["distribution"]), default=0) or 1
    for b in cycle["distribution"]:
        over = b["up_to_months"] is None or b["up_to_months"] > target
        bar = ("[red]" if over else "[green]") + "█" * round(30 * b["count"] / most) + "[/]"
        table.add_row(b["label"], str(b["count"]), bar)
    console.print(table)

    table = Table(title="Published per period")
    for column in (
        "period",
        "published",
        "revisions",
        "with cycle time",
        "mean cycle (days)",
        "within",
        "over",
    ):
        table.add_column(column, justify="right" if column != "period" else "left")
    for row in report["periods"]:
        is_year = row["kind"] == "year"
        label = f"[bold]{row['period']}[/bold]" if is_year else f"  {row['period']}"
        table.add_row(label, str(row["published"]), str(row["revisions"]), str(row["with_cycle_time"]),
                      "" if row["mean_cycle_days"] is None else str(row["mean_cycle_days"]),
                      str(row["within_target"]), str(row["over_target"]))  # fmt: skip
    console.print(table)

    table = Table(title=f"Reviews (复审) due within {report['review_window_days']} days")
    for column in ("standard", "numbers", "title", "due", "days left"):
        table.add_column(column)
    for r in report["upcoming_reviews"]:
        left = str(r["days_left"]) if r["days_left"] >= 0 else f"[red]{r['days_left']}[/red]"
        table.add_row(r["standard_id"], " = ".join(r["numbers"]), r["title_zh"], r["due_on"], left)
    console.print(table)

    table = Table(title="Missing filings (备案)")
    for column in ("standard", "numbers", "clock", "party", "due", "days overdue"):
        table.add_column(column)
    for f in report["missing_filings"]:
        table.add_row(f["standard_id"], " = ".join(f["numbers"]), f["clock"], f["party"], f["due_on"],
                      str(f["days_overdue"]))  # fmt: skip
    console.print(table)

    if overdue is None:
        console.print(
            f"[yellow]projects past the target: not available[/yellow] ({problem})", highlight=False
        )
        return
    table = Table(title=f"Projects past the {target}-month target (intake)")
    for column in ("project", "title", "status", "立项 on", "target", "days over"):
        table.add_column(column)
    for p in overdue:
        table.add_row(p["project_id"], p["title_zh"], p["status"], p["project_approved_on"], p["target_on"],
                      str(p["days_overdue"]))  # fmt: skip
    console.print(table)
