"""`regstd`: the command line for the people involved, and for running everything locally."""

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from regstd.cli import demo
from regstd.cli.client import TokenBookFile
from regstd.cli.dlq import dlq
from regstd.cli.harmonization import harmonization
from regstd.cli.life import life
from regstd.cli.local import CONSOLE, Local, LocalError
from regstd.cli.people import people
from regstd.cli.report import reports
from regstd.cli.subscriber import (
    CityLedger,
    CitySubscriber,
    SubscriptionRefused,
    require_membership,
    run_subscriber,
)
from regstd.cli.trace import waterfalls
from regstd.contracts.reference import load_reference
from regstd.runtime.spanfiles import SpanFiles
from regstd.runtime.telemetry import configure_tracing

app = typer.Typer(
    help="regstd: joint regional standards, from proposal to partner cities.", no_args_is_help=True
)
local_app = typer.Typer(help="Run the whole system on this machine.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(harmonization, name="harmonize")
app.add_typer(dlq, name="dlq")
app.registered_commands += people.registered_commands
app.registered_commands += life.registered_commands
app.registered_commands += reports.registered_commands
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


DEMO_CITIES = ("510100", "500101")  # 成都市, 重庆市万州区


@local_app.command("run")
def local_run(data_dir: DataDir = Path("var")) -> None:
    """Start everything, play the scenario with two partner cities listening, serve until Ctrl-C."""
    local = _local(data_dir)
    local_up(data_dir)
    book = TokenBookFile.load(local.book)
    bootstrap = book.endpoints["kafka"]
    cities = [
        subprocess.Popen(
            [sys.executable, "-m", "regstd.cli.main", "subscribe", "--city", code, "--bootstrap", bootstrap,
             "--data-dir", str(local.data_dir)]
        )
        for code in DEMO_CITIES
    ]  # fmt: skip
    try:
        standard = demo.play(book, console)
        received = _wait_until_received(local.data_dir, standard["standard_id"], DEMO_CITIES)
        table = Table(title="Partner cities")
        for column in ("city", "received"):
            table.add_column(column)
        reference = load_reference()
        for code in DEMO_CITIES:
            table.add_row(
                f"{code} {reference.partner_cities[code].name_zh}", "yes" if code in received else "no"
            )
        console.print(table)
        console.print(f"[green]regstd is serving[/green]; the console at http://127.0.0.1:{CONSOLE.port}/; "
                      + "OpenAPI at "
                      + ", ".join(f"{u}/docs" for n, u in book.endpoints.items() if u.startswith("http"))
                      + "; Ctrl-C stops everything")  # fmt: skip
        _wait_for_interrupt()
    finally:
        for city in cities:
            city.terminate()
        for city in cities:
            city.wait(timeout=30)
        local.down()


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def _wait_until_received(
    data_dir: Path, standard_id: str, cities: tuple[str, ...], within_s: float = 30
) -> set[str]:
    deadline = time.monotonic() + within_s
    received: set[str] = set()
    while time.monotonic() < deadline and len(received) < len(cities):
        for code in cities:
            path = data_dir / "cities" / f"{code}.sqlite"
            if code not in received and path.exists():
                ledger = CityLedger(path)
                try:
                    if any(sid == standard_id for sid, _, _ in ledger.standards()):
                        received.add(code)
                finally:
                    ledger.close()
        time.sleep(0.2)
    return received


@app.command()
def subscribe(
    city: Annotated[str, typer.Option(help="The partner city's code, for example 510100 (成都市).")],
    area: Annotated[
        list[str] | None,
        typer.Option(help="Only these of the city's areas (default: every area the city belongs to)."),
    ] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only these categories (default: all).")] = None,
    replay_skipped: Annotated[
        bool,
        typer.Option(
            "--replay-skipped",
            help="Read the topic again from its beginning and deliver, once each, the standards this "
            "filter accepts that the city's ledger lacks (what an earlier, narrower filter skipped).",
        ),
    ] = False,
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
    partner = reference.partner_cities[city]
    try:  # refused before anything is opened
        require_membership(partner, area or (), reference)
    except SubscriptionRefused as refused:
        console.print(f"[red]{refused}[/red]", highlight=False)
        raise typer.Exit(2) from refused
    configure_tracing(f"city-{city}", spans_dir=data_dir / "spans")
    ledger = CityLedger(data_dir / "cities" / f"{city}.sqlite")
    subscriber = CitySubscriber(
        partner,
        ledger,
        areas=area or (),
        categories=category or (),
        announce=lambda line: console.print(line, highlight=False, markup=False),
        reference=reference,
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
        await run_subscriber(subscriber, bootstrap, stop, replay_skipped=replay_skipped)

    try:
        asyncio.run(run())
    except SubscriptionRefused as refused:
        console.print(f"[red]{refused}[/red]", highlight=False)
        raise typer.Exit(1) from refused
    finally:
        ledger.close()


@app.command("trace")
def trace_command(
    query: Annotated[
        str, typer.Argument(help="A project id, a standard number (any dash), a standard id or a trace id.")
    ],
    spans_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="REGSTD_SPANS_DIR", help="Where the services keep spans (default <data dir>/spans)."
        ),
    ] = None,
    store: Annotated[bool, typer.Option(help="Show the store calls (database commands) too.")] = True,
    last: Annotated[int, typer.Option(min=1, help="Show at most this many traces, the latest.")] = 20,
    data_dir: DataDir = Path("var"),
) -> None:
    """Print the traces of a business flow as waterfalls: services, hops, durations, errors."""
    files = SpanFiles(spans_dir or data_dir / "spans")
    traces = files.lookup(query)
    if not traces:
        console.print(
            f"[red]no stored trace for {query!r}[/red] in {files.directory} "
            "(spans are written there when no OTLP collector is configured, within a second)"
        )
        raise typer.Exit(1)
    if len(traces) > last:
        console.print(f"{len(traces)} traces; showing the latest {last} (--last)")
        traces = dict(list(traces.items())[-last:])
    # A waterfall needs room: piped or redirected output gets a wide page instead of 80 columns.
    out = console if console.is_terminal else Console(width=max(console.width, 180))
    out.print(waterfalls(traces, show_store=store))


if __name__ == "__main__":
    app()
