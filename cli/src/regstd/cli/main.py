"""`regstd`: the command line for the people involved, and for running everything locally."""

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from regstd.cli.local import Local, LocalError
from regstd.cli.subscriber import CityLedger, CitySubscriber, run_subscriber
from regstd.contracts.reference import load_reference

app = typer.Typer(
    help="regstd: joint regional standards, from proposal to partner cities.", no_args_is_help=True
)
local_app = typer.Typer(help="Run the whole system on this machine.", no_args_is_help=True)
app.add_typer(local_app, name="local")
console = Console()

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="REGSTD_DATA_DIR", help="Local data directory.")]


def _local(data_dir: Path) -> Local:
    return Local(data_dir=data_dir.resolve(), repo=Path.cwd())


@local_app.command("up")
def local_up(data_dir: DataDir = Path("var")) -> None:
    """Start Kafka, FerretDB and every service, detached; print where everything listens."""
    try:
        started = _local(data_dir).up(log=console.print)
    except LocalError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    for name, url in started["endpoints"].items():
        console.print(f"  {name:<15} {url}")
    console.print(f"  tokens          {started['tokens']}")
    console.print("[green]regstd is ready[/green]; stop it with `make down`")


@local_app.command("down")
def local_down(data_dir: DataDir = Path("var")) -> None:
    """Stop every service and the stack (data stays)."""
    try:
        _local(data_dir).down()
    except LocalError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error


@app.command()
def subscribe(
    city: Annotated[str, typer.Option(help="The partner city's code, for example 510100 (成都市).")],
    area: Annotated[
        list[str] | None, typer.Option(help="Only these areas (default: the city's areas).")
    ] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only these categories (default: all).")] = None,
    bootstrap: Annotated[str, typer.Option(envvar="REGSTD_KAFKA_BOOTSTRAP", help="Kafka bootstrap.")] = (
        "127.0.0.1:9092"
    ),
    data_dir: DataDir = Path("var"),
) -> None:
    """Subscribe as a partner city: print each received standard once and record it locally."""
    reference = load_reference()
    if city not in reference.partner_cities:
        known = ", ".join(f"{c.code} {c.name_zh}" for c in reference.partner_cities.values())
        console.print(f"[red]unknown partner city {city!r}[/red]; known: {known}")
        raise typer.Exit(2)
    ledger = CityLedger(data_dir / "cities" / f"{city}.sqlite")
    subscriber = CitySubscriber(
        reference.partner_cities[city],
        ledger,
        areas=area or (),
        categories=category or (),
        announce=lambda line: console.print(line, highlight=False),
    )
    console.print(
        f"{subscriber.city.name_zh} ({city}) subscribed as group {subscriber.group_id} to areas "
        f"{sorted(subscriber.areas)}, categories {sorted(subscriber.categories) or 'all'}; Ctrl-C stops"
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_subscriber(subscriber, bootstrap, stop)

    try:
        asyncio.run(run())
    finally:
        ledger.close()
