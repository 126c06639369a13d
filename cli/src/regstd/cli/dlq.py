"""`regstd dlq list|show|replay`: the operator's view of dead letters. The work is the runtime's
(`regstd.runtime.dead_letters`); these commands read the Kafka address and print."""

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from regstd.cli.client import TokenBookFile
from regstd.cli.people import Book
from regstd.runtime.dead_letters import (
    DeadLetterError,
    list_letters,
    replay_letters,
    show_letter,
)

dlq = typer.Typer(
    help="Dead letters: records a consumer could not decode or handle; inspect, replay after a fix.",
    no_args_is_help=True,
)
console = Console()

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

Bootstrap = Annotated[
    str | None,
    typer.Option(
        envvar="REGSTD_KAFKA_BOOTSTRAP",
        help="Kafka bootstrap (default: the local stack's, from var/local.json, else 127.0.0.1:9092).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def kafka_address(bootstrap: str | None, book: Path) -> str:
    """The given bootstrap, else the one `regstd local up` wrote into the token book, else the default."""
    if bootstrap:
        return bootstrap
    if book.exists():
        return TokenBookFile.load(book).endpoints.get("kafka", DEFAULT_BOOTSTRAP)
    return DEFAULT_BOOTSTRAP


def _run(work: Any) -> Any:
    try:
        return asyncio.run(work)
    except DeadLetterError as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(1) from error


@dlq.command("list")
def list_command(
    topic: Annotated[
        list[str] | None,
        typer.Option(help="Only this topic (origin or .dlq name; repeatable). Default: every topic."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="The latest N letters of each topic.")] = None,
    as_json: AsJson = False,
    bootstrap: Bootstrap = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """List dead letters per topic: where each came from, its event, the error, when, and whether
    it was replayed."""
    listed = _run(list_letters(kafka_address(bootstrap, tokens), topic, limit=limit))
    if as_json:
        summaries = {name: [letter.summary() for letter in letters] for name, letters in listed.items()}
        print(json.dumps(summaries, indent=2, ensure_ascii=False))
        return
    for name, letters in listed.items():
        table = Table(title=f"{name}: {len(letters)} letter(s)", title_justify="left")
        for column in ("ref", "origin", "group", "event", "error", "failed at", "replayed"):
            table.add_column(column, overflow="fold")
        for letter in letters:
            table.add_row(
                str(letter.ref),
                letter.origin or "-",
                letter.group or "-",
                f"{letter.event_type or '-'}\n{letter.event_id or ''}".strip(),
                letter.error[:200],
                letter.failed_at,
                "-" if letter.replayed is None else letter.replayed.replayed_at,
            )
        console.print(table)


@dlq.command("show")
def show_command(
    ref: Annotated[str, typer.Argument(help="The letter, <dlq topic>:<partition>:<offset> as `list` shows.")],
    bootstrap: Bootstrap = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Show one dead letter in full: key, headers, the value (its first 2,000 characters), the error."""
    letter = _run(show_letter(kafka_address(bootstrap, tokens), ref))
    print(json.dumps(letter.details(), indent=2, ensure_ascii=False))


@dlq.command("replay")
def replay_command(
    refs: Annotated[list[str] | None, typer.Argument(help="The letters to replay, as `list` names them.")] = (
        None
    ),
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every letter of --topic.")] = False,
    topic: Annotated[str | None, typer.Option(help="With --all: the topic (origin or .dlq name).")] = None,
    bootstrap: Bootstrap = None,
    tokens: Book = Path("var/local.json"),
) -> None:
    """Re-publish letters to their origin topic (same partition, key, value and headers) after the
    cause is fixed. Each letter is re-published once, however often it is replayed."""
    if replay_all and not topic:
        console.print("[red]--all needs --topic[/red]")
        raise typer.Exit(2)
    if not refs and not replay_all:
        console.print("[red]name the letters to replay, or --all --topic T[/red]")
        raise typer.Exit(2)
    outcomes = _run(
        replay_letters(kafka_address(bootstrap, tokens), refs or (), all_of=topic if replay_all else None)
    )
    for outcome in outcomes:
        where = f"{outcome.origin.rsplit(':', 2)[0]}:{outcome.replay.partition}:{outcome.replay.offset}"
        if outcome.replayed_now:
            console.print(f"replayed {outcome.letter} to {where}", highlight=False)
        else:
            console.print(
                f"skipped {outcome.letter}: replayed before, at {outcome.replay.replayed_at} to {where}",
                highlight=False,
            )
    replayed = sum(outcome.replayed_now for outcome in outcomes)
    console.print(f"{replayed} replayed, {len(outcomes) - replayed} skipped")
