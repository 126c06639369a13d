"""The commands for the people involved: propose, vote, advance a milestone, show a project with
its ballots and overlap matches, list the catalogue. Each acts as one principal of the token book."""

import hashlib
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from regstd.cli.client import Api, ApiError, TokenBookFile

people = typer.Typer(no_args_is_help=True)
console = Console()

ActingAs = Annotated[
    str, typer.Option("--as", help="Act as the regulator of a region (50), a partner city (510100) or ops.")
]
Book = Annotated[Path, typer.Option("--tokens", envvar="REGSTD_TOKENS_FILE", help="The token book.")]
MILESTONES = ("drafting", "public-comment", "amend-comment", "close-comment", "conclude", "submit")


def open_api(book: Path, acting_as: str) -> Api:
    """The API client acting as a principal of the token book; exits 2 when the book does not name it."""
    try:
        return Api(TokenBookFile.load(book), acting_as)
    except (FileNotFoundError, KeyError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error


def call_service(api: Api, service: str, method: str, path: str, **kwargs: Any) -> Any:
    """One call to intake or publication; a refusal is printed and exits 1."""
    try:
        return (
            api.intake(method, path, **kwargs)
            if service == "intake"
            else api.publication(method, path, **kwargs)
        )
    except ApiError as error:
        console.print(f"[red]refused[/red] {error}", markup=True, highlight=False)
        raise typer.Exit(1) from error
    finally:
        api.close()


@people.command()
def propose(
    acting_as: ActingAs,
    title_zh: Annotated[str, typer.Option(help="Chinese title (required).")],
    scope: Annotated[str, typer.Option(help="What the standard covers.")],
    category: Annotated[str, typer.Option(help="transport, agriculture, environment, services, …")],
    area: Annotated[str, typer.Option(help="Cooperation area: chengyu, yrd.")] = "chengyu",
    party: Annotated[
        list[str] | None, typer.Option(help="A party's region code (repeat); default all.")
    ] = None,
    title_en: Annotated[str | None, typer.Option(help="English title.")] = None,
    mandatory: Annotated[bool, typer.Option(help="A mandatory standard (no /T).")] = False,
    organisation: Annotated[list[str] | None, typer.Option(help="Proposing organisation (repeat).")] = None,
    supersedes: Annotated[
        str | None, typer.Option(help="For a revision: the standard id it revises (keeps its number).")
    ] = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Propose a joint standard project (立项申请), or a revision (修订); shows the overlap matches."""
    from regstd.contracts.reference import load_reference

    parties = party or list(load_reference().area(area).parties)
    body = {
        "area": area,
        "parties": parties,
        "title_zh": title_zh,
        "title_en": title_en,
        "scope": scope,
        "category": category,
        "kind": "mandatory" if mandatory else "recommended",
        "proposing_organisations": organisation or [],
    } | ({"supersedes": supersedes} if supersedes else {})
    project = call_service(open_api(tokens, acting_as), "intake", "POST", "/projects", json=body)
    _show_project(project)


@people.command()
def vote(
    project_id: str,
    acting_as: ActingAs,
    position: Annotated[str, typer.Option(help="approve, reject or object.")],
    stage: Annotated[str, typer.Option(help="project_approval (立项) or final_approval (批准).")] = (
        "project_approval"
    ),
    reason: Annotated[str | None, typer.Option(help="Why (required to object).")] = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Record your region's position in a ballot (you vote only for your own region)."""
    body = {"party": acting_as, "position": position} | ({"reason": reason} if reason else {})
    project = call_service(
        open_api(tokens, acting_as),
        "intake",
        "POST",
        f"/projects/{project_id}/ballots/{stage}/positions",
        json=body,
    )
    _show_project(project)


@people.command()
def advance(
    project_id: str,
    milestone: Annotated[str, typer.Argument(help=f"One of: {', '.join(MILESTONES)}.")],
    acting_as: ActingAs,
    conclusion: Annotated[str | None, typer.Option(help="conclude: your region's review conclusion.")] = None,
    failed: Annotated[bool, typer.Option(help="conclude: the review did not pass.")] = False,
    text_location: Annotated[str | None, typer.Option(help="submit: where the final text is.")] = None,
    text_sha256: Annotated[str | None, typer.Option(help="submit: its SHA-256.")] = None,
    closes_on: Annotated[
        str | None,
        typer.Option(
            help="public-comment: its closing date (default: the minimum period); amend-comment: the "
            "new closing date (any party, while comment is open, within the window from its opening)."
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="amend-comment: why the closing date moves.")] = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Advance a project between the ballots: drafting, public comment (open, move its closing date,
    close), review, submission."""
    closing = {"closes_on": iso_day(closes_on)} if closes_on else None
    paths: dict[str, tuple[str, dict[str, Any] | None]] = {
        "drafting": ("/drafting", None),
        "public-comment": ("/public-comment", closing),
        "amend-comment": (
            "/public-comment/close-date",
            (closing or {}) | ({"reason": reason} if reason else {}),
        ),
        "close-comment": ("/public-comment/close", None),
        "conclude": (
            "/review-conclusions",
            {"party": acting_as, "conclusion": conclusion or "", "passed": not failed},
        ),
        "submit": ("/submission", {"text": {"location": text_location, "sha256": text_sha256}}),
    }
    if milestone not in paths:
        console.print(f"[red]unknown milestone {milestone!r}[/red]; one of {', '.join(MILESTONES)}")
        raise typer.Exit(2)
    if milestone == "amend-comment" and closing is None:
        console.print("[red]amend-comment needs --closes-on YYYY-MM-DD[/red]")
        raise typer.Exit(2)
    path, body = paths[milestone]
    project = call_service(
        open_api(tokens, acting_as), "intake", "POST", f"/projects/{project_id}{path}", json=body
    )
    _show_project(project)


@people.command()
def show(project_id: str, acting_as: ActingAs = "ops", tokens: Book = Path("var/local.json")) -> None:
    """Show a project: its state, ballots with every party's position, clocks, overlaps, milestones."""
    _show_project(call_service(open_api(tokens, acting_as), "intake", "GET", f"/projects/{project_id}"))


@people.command()
def catalogue(
    acting_as: ActingAs = "ops",
    area: Annotated[str | None, typer.Option()] = None,
    party: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    year: Annotated[int | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
    number: Annotated[str | None, typer.Option(help="Find one standard by any of its numbers.")] = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """List the catalogue of standards, filtered, or find one by number (either dash)."""
    api = open_api(tokens, acting_as)
    if number:
        from urllib.parse import quote

        items = [call_service(api, "publication", "GET", f"/standards/by-number/{quote(number, safe='')}")]
    else:
        filters = {"area": area, "party": party, "category": category, "year": year, "status": status}
        listing = call_service(
            api, "publication", "GET", "/standards", params={k: v for k, v in filters.items() if v}
        )
        items = listing["items"]
    table = Table(title="Catalogue")
    for column in ("numbers", "title", "area", "category", "status", "published", "in force"):
        table.add_column(column)
    for s in items:
        numbers = "\n".join(n["number"] for n in s["numbers"])
        dates = (str(s.get("publication_date") or ""), str(s.get("implementation_date") or ""))
        table.add_row(numbers, s["title_zh"], s["area"], s["category"], s["status"], *dates)
    console.print(table)


@people.command()
def submit(
    acting_as: ActingAs,
    number: Annotated[
        str, typer.Option(help='Your region\'s own number, e.g. "DB51/T 3125—2026" (any dash).')
    ],
    title_zh: Annotated[str, typer.Option(help="Chinese title (required).")],
    category: Annotated[str, typer.Option(help="environment, ecology, transport, …")],
    published: Annotated[str, typer.Option(help="Its publication date, YYYY-MM-DD (China).")],
    implemented: Annotated[str, typer.Option(help="Its implementation date (实施日期), YYYY-MM-DD.")],
    text_location: Annotated[str, typer.Option(help="Where the published text is (a URL).")],
    text_file: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="The published text: its SHA-256 is sent.")
    ],
    area: Annotated[str, typer.Option(help="The area to publish it to: yangtze, chengyu, yrd.")] = "yangtze",
    eco: Annotated[bool, typer.Option(help="An eco-civilization (生态文明) standard.")] = False,
    title_en: Annotated[str | None, typer.Option(help="English title.")] = None,
    scope: Annotated[str, typer.Option(help="What the standard covers.")] = "",
    mandatory: Annotated[bool, typer.Option(help="A mandatory standard (no /T in its number).")] = False,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Submit your region's own, already numbered standard for cross-region publication; members of
    the area learn of it as of any published standard (yangtze members get it offered for adoption)."""
    body = {
        "number": number,
        "area": area,
        "title_zh": title_zh,
        "title_en": title_en,
        "scope": scope,
        "category": category,
        "kind": "mandatory" if mandatory else "recommended",
        "eco_civilization": eco,
        "publication_date": iso_day(published),
        "implementation_date": iso_day(implemented),
        "text": {"location": text_location, "sha256": _sha256(text_file)},
    }
    standard = call_service(open_api(tokens, acting_as), "publication", "POST", "/submissions", json=body)
    numbers = " = ".join(n["number"] for n in standard["numbers"])
    console.print(
        f"[bold]{numbers}[/bold] {standard['title_zh']} ({standard['standard_id']}): {standard['status']} "
        f"to {standard['area']}, published {standard['publication_date']}, in force "
        f"{standard['implementation_date']}; text {standard['text']['location']} "
        f"(sha256 {standard['text']['sha256'][:12]}…)",
        highlight=False,
        soft_wrap=True,
    )


def iso_day(text: str) -> str:
    """A command-line date as ISO 8601, refused clearly when it is not one."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as error:
        console.print(f"[red]{text!r} is not a date like 2026-03-01[/red]")
        raise typer.Exit(2) from error


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as text:
        for chunk in iter(lambda: text.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@people.command()
def overdue(
    acting_as: ActingAs = "ops",
    area: Annotated[str | None, typer.Option(help="Only this cooperation area.")] = None,
    clock: Annotated[str, typer.Option(help="cycle_time, ballot or public_comment.")] = "cycle_time",
    tokens: Book = Path("var/local.json"),
) -> None:
    """List the projects past a deadline (by default their area's cycle-time target), longest first."""
    params = {"clock": clock} | ({"area": area} if area else {})
    report = call_service(open_api(tokens, acting_as), "intake", "GET", "/projects/overdue", params=params)
    table = Table(title=f"projects past their {clock} deadline, as of {report['as_of']}")
    for column in ("project", "title", "area", "status", "clock", "due", "days overdue"):
        table.add_column(column)
    for item in report["items"]:
        c = item["clock"]
        table.add_row(
            item["project_id"], item["title_zh"], item["area"], item["status"], c["name"], c["due_on"],
            str(c["days_overdue"]),
        )  # fmt: skip
    console.print(table)


def clocks_table(clocks: list[dict[str, Any]], title: str = "clocks") -> Table:
    """A table of clocks as the services show them (`ClockView`): deadline, state, days overdue."""
    table = Table(title=title)
    for column in ("clock", "period", "starts", "due", "state", "days overdue", "met on"):
        table.add_column(column)
    for c in clocks:
        due = c["due_on"] or f"unknown: {c.get('problem') or ''}"
        if c["due_on"] and c.get(
            "provisional"
        ):  # counted by rule before the year's arrangement (decision 24)
            due += " (provisional)"
        late = str(c["days_overdue"]) if c["days_overdue"] else ""
        table.add_row(c["name"], c["period"], c["starts_on"], due, c["state"], late, c.get("met_on") or "")
    return table


def _show_project(project: dict[str, Any]) -> None:
    parties = ", ".join(project["parties"])
    console.print(
        f"[bold]{project['project_id']}[/bold] {project['title_zh']}  "
        f"({project['area']}, parties {parties}, {project['category']}, {project['kind']})"
    )
    console.print(
        f"status: [bold]{project['status']}[/bold] — {project.get('next_step', '')}", highlight=False
    )
    outcome = project.get("publication")
    if outcome:  # the next step already says published as … or refused by publication: …
        what = f"refused it (rule {outcome['rule']})" if outcome["outcome"] == "refused" else "published it"
        console.print(f"  publication {what} as {outcome['standard_id']} at {outcome['at']}", highlight=False)
    comment = project.get("public_comment") or {}
    for moved in comment.get("amendments") or []:
        by = (moved.get("amended_by") or {}).get("code", "")
        why = f": {moved['reason']}" if moved.get("reason") else ""
        console.print(
            f"  public comment closing date moved {moved['previous_closes_on']} → {moved['closes_on']} "
            f"by {by} at {moved['amended_at']}{why}",
            highlight=False,
            markup=False,
        )
    for stage, ballot in project.get("ballots", {}).items():
        table = Table(
            title=f"ballot {stage} (deadline {ballot['deadline']}, outcome {ballot.get('outcome') or 'open'})"
        )
        for column in ("party", "position", "reason", "by", "at"):
            table.add_column(column)
        for party in ballot["parties"]:
            p = ballot["positions"].get(party)
            if p is None:
                table.add_row(party, "—", "", "", "")
            else:
                by = (p.get("recorded_by") or {}).get("name", "")
                table.add_row(party, p["position"], p.get("reason") or "", by, str(p.get("recorded_at", "")))
        console.print(table)
    if project.get("deadlines"):
        console.print(clocks_table(project["deadlines"], "clocks (deadlines)"))
    matches = project.get("overlap_matches") or []
    if matches:
        table = Table(title="overlap matches (a warning, not a refusal)")
        for column in ("kind", "ref", "number", "title", "score"):
            table.add_column(column)
        for m in matches:
            table.add_row(m["kind"], m["ref"], m.get("number") or "", m["title_zh"], f"{m['score']:.2f}")
        console.print(table)
    for entry in project.get("milestones", []):
        by = (entry.get("recorded_by") or {}).get("name", "")
        detail = entry.get("conclusion") or entry.get("comment_closes_on") or ""
        console.print(
            f"  {entry['recorded_at']}  {entry['milestone']}  {by} {detail}", highlight=False, markup=False
        )
