"""The commands for a published standard's life: show its clocks, record a filing (备案), the text
disclosure and a review (复审) conclusion. Each acts as one principal of the token book; a regulator
records only for its own region."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from regstd.cli.people import ActingAs, Book, call_service, clocks_table, console, iso_day, open_api

life = typer.Typer(no_args_is_help=True)
OUTCOMES = ("continue", "revise", "abolish", "convert", "integrate")


@life.command("life")
def show_life(standard_id: str, acting_as: ActingAs = "ops", tokens: Book = Path("var/local.json")) -> None:
    """Show a standard's clocks (deadlines, state, days overdue), filings, disclosure and reviews."""
    show(call_service(open_api(tokens, acting_as), "publication", "GET", f"/standards/{standard_id}/life"))


@life.command("file")
def record_filing(
    standard_id: str,
    acting_as: ActingAs,
    filing_number: Annotated[str, typer.Option("--number", help="The number the authority gave.")],
    filed_on: Annotated[str, typer.Option("--on", help="Filing date, YYYY-MM-DD (China).")],
    authority: Annotated[
        str, typer.Option(help="national, or ecology_environment for a mandatory environmental standard.")
    ] = "national",
    tokens: Book = Path("var/local.json"),
) -> None:
    """Record your region's filing (备案) of a published standard."""
    body = {
        "party": acting_as,
        "authority": authority,
        "filing_number": filing_number,
        "filed_on": iso_day(filed_on),
    }
    show(
        call_service(
            open_api(tokens, acting_as), "publication", "POST", f"/standards/{standard_id}/filings", json=body
        )
    )


@life.command("disclose")
def record_disclosure(
    standard_id: str,
    acting_as: ActingAs,
    location: Annotated[str, typer.Option(help="Where the public reads the full text.")],
    disclosed_on: Annotated[str, typer.Option("--on", help="Disclosure date, YYYY-MM-DD (China).")],
    tokens: Book = Path("var/local.json"),
) -> None:
    """Record that the full text of a published standard was made public."""
    body = {"location": location, "disclosed_on": iso_day(disclosed_on)}
    show(
        call_service(
            open_api(tokens, acting_as),
            "publication",
            "POST",
            f"/standards/{standard_id}/disclosure",
            json=body,
        )
    )


@life.command("review")
def record_review(
    standard_id: str,
    acting_as: ActingAs,
    outcome: Annotated[str, typer.Option(help=f"One of: {', '.join(OUTCOMES)}.")],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Record your region's review (复审) conclusion; when every party agrees it is the joint outcome."""
    if outcome not in OUTCOMES:
        console.print(f"[red]unknown outcome {outcome!r}[/red]; one of {', '.join(OUTCOMES)}")
        raise typer.Exit(2)
    body = {"outcome": outcome} | ({"reason": reason} if reason else {})
    show(
        call_service(
            open_api(tokens, acting_as),
            "publication",
            "POST",
            f"/standards/{standard_id}/review-conclusions",
            json=body,
        )
    )


def show(view: dict[str, Any]) -> None:
    """Print a standard's life as tables."""
    numbers = " = ".join(n["number"] for n in view["numbers"])
    console.print(f"[bold]{view['standard_id']}[/bold] {numbers}  status: [bold]{view['status']}[/bold]")
    if view.get("supersedes"):
        console.print(f"  revises {view['supersedes']}", highlight=False)
    ending = view.get("ending")
    if ending:
        successor = f" by {ending['successor']}" if ending.get("successor") else ""
        console.print(
            f"  {ending['how']}{successor} from {ending['effective_date']}: {ending['reason']}",
            highlight=False,
        )
    console.print(clocks_table(view["clocks"]))
    if view["filings"]:
        table = Table(title="filings (备案)")
        for column in ("party", "authority", "number", "filed on"):
            table.add_column(column)
        for f in view["filings"]:
            table.add_row(f["party"], f["authority"], f["filing_number"], f["filed_on"])
        console.print(table)
    if view.get("disclosure"):
        d = view["disclosure"]
        console.print(f"  text disclosed on {d['disclosed_on']} at {d['location']}", highlight=False)
    for review in view["reviews"]:
        said = ", ".join(f"{c['party']}: {c['outcome']}" for c in review["conclusions"])
        outcome = review.get("outcome") or "open"
        console.print(f"  review opened {review['opened_on']}: {said} → {outcome}", highlight=False)
