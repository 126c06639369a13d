"""Running everything on this machine: the stack (Kafka, FerretDB), the token book, the services.

`up` is idempotent and detached: it starts what is not running and leaves the rest. What runs is
recorded in `<data dir>/services.json`, logs go to `<data dir>/logs/`, and `<data dir>/local.json`
holds every endpoint and the development tokens.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from regstd.contracts.reference import load_reference
from regstd.runtime.auth import write_development_tokens


@dataclass(frozen=True)
class Service:
    """A service process of the local deployment."""

    name: str
    entry_point: str
    port: int | None  # None: no HTTP API (yet)


SERVICES = (
    Service("project-intake", "regstd-intake", 8101),
    Service("publication", "regstd-publication", 8102),
    Service("harmonization", "regstd-harmonization", 8103),
)
CONSOLE = Service("console", "regstd-console", 8100)
"""The web console: a front end over the services' APIs, started beside them (decision 0031)."""


DEMO_PUBLIC_COMMENT_MIN_DAYS = "0"


class LocalError(RuntimeError):
    """The local deployment could not be brought up; the message says what to look at."""


@dataclass(frozen=True)
class Local:
    """The local deployment rooted in a data directory (default ./var)."""

    data_dir: Path
    repo: Path

    @property
    def book(self) -> Path:
        """The token book with every endpoint."""
        return self.data_dir / "local.json"

    @property
    def services_file(self) -> Path:
        return self.data_dir / "services.json"

    def stack(self, *args: str) -> dict[str, Any]:
        """Run deploy/local/stack.py with this data dir; its JSON answer."""
        script = self.repo / "deploy" / "local" / "stack.py"
        if not script.exists():
            raise LocalError(f"{script} not found: run this from the regstd repository")
        done = subprocess.run(
            [sys.executable, str(script), *args, "--data-dir", str(self.data_dir), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise LocalError(f"stack.py {' '.join(args)} failed:\n{done.stderr}")
        answer: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
        return answer

    def up(self, log: Any = print) -> dict[str, Any]:
        """Start the stack and every service not yet running; wait until all are ready."""
        stack = self.stack("up")
        endpoints = {s.name: f"http://127.0.0.1:{s.port}" for s in SERVICES if s.port}
        endpoints |= {"kafka": stack["kafka"]["bootstrap"], "mongo": stack["mongo"]["url"]}
        write_development_tokens(self.book, load_reference(), endpoints)
        running = self._running()
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            REGSTD_KAFKA_BOOTSTRAP=stack["kafka"]["bootstrap"],
            REGSTD_MONGO_URL=stack["mongo"]["url"],
            REGSTD_TOKENS_FILE=str(self.book),
            REGSTD_SPANS_DIR=str(self.data_dir / "spans"),
        )
        # The local deployment plays a whole lifecycle in seconds: it shortens the public-comment
        # minimum (30 days by default) unless the environment sets one.
        env.setdefault("REGSTD_PUBLIC_COMMENT_MIN_DAYS", DEMO_PUBLIC_COMMENT_MIN_DAYS)
        bin_dir = Path(sys.executable).parent
        own_env = {s.name: {"REGSTD_HTTP_PORT": str(s.port)} for s in SERVICES if s.port}
        own_env[CONSOLE.name] = {
            "REGSTD_CONSOLE_HTTP_PORT": str(CONSOLE.port),
            "REGSTD_CONSOLE_TOKENS_FILE": str(self.book),
            "REGSTD_CONSOLE_SECRET_FILE": str(self.data_dir / "console-secret"),
        }
        for service in (*SERVICES, CONSOLE):
            if service.name in running:
                continue
            with open(logs / f"{service.name}.log", "ab") as out:
                process = subprocess.Popen(
                    [str(bin_dir / service.entry_point)],
                    env=env | own_env.get(service.name, {}),
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            running[service.name] = process.pid
            log(f"started {service.name} (pid {process.pid}, log {logs / (service.name + '.log')})")
        self.services_file.write_text(json.dumps(running, indent=2) + "\n")
        self._wait_ready(logs)
        shown = {CONSOLE.name: f"http://127.0.0.1:{CONSOLE.port}/"} | endpoints
        return {"endpoints": shown, "services": running, "tokens": str(self.book)}

    def down(self) -> None:
        """Stop the services, then the stack; data stays."""
        for name, pid in self._running().items():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
            print(f"stopped {name} (pid {pid})")
        self.services_file.unlink(missing_ok=True)
        self.stack("down")

    def _running(self) -> dict[str, int]:
        if not self.services_file.exists():
            return {}
        recorded: dict[str, int] = json.loads(self.services_file.read_text())
        return {name: pid for name, pid in recorded.items() if _alive(pid)}

    def _wait_ready(self, logs: Path, within_s: float = 60.0) -> None:
        deadline = time.monotonic() + within_s
        for service in (*SERVICES, CONSOLE):
            if service.port is None:
                continue
            url = f"http://127.0.0.1:{service.port}/health/ready"
            while True:
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or service.name not in self._running():
                    tail = (logs / f"{service.name}.log").read_text(errors="replace")[-3000:]
                    raise LocalError(f"{service.name} did not become ready at {url}; its log ends:\n{tail}")
                time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); its state in /proc says it is gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
