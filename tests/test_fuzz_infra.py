"""Schema-driven fuzzing of the three services (issue 14): schemathesis reads each service's OpenAPI
document and sends generated requests, valid and invalid, to the real service processes on the
session's Kafka and FerretDB, as a regulator (a token from a token book written as `regstd local up`
writes it). Every check runs (`--checks all`), except the few named in `NOT_CHECKED` with the
reason: no answer may be a 5xx, every answered status must be documented for its operation, every
answer must match its documented schema and content type.

`REGSTD_FUZZ_EXAMPLES` (default 8) bounds the generated examples per operation and generation mode,
so the run stays near a minute on a small machine; raise it for a longer hunt (`REGSTD_FUZZ_EXAMPLES=200
.venv/bin/pytest tests/test_fuzz_infra.py`). A failure prints the case as a `curl` command and the
service's own log of the unexpected error."""

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import (
    ensure_resource_availability,
    positive_data_acceptance,
    use_after_free,
)

from regstd.contracts.reference import load_reference
from regstd.runtime.auth import write_development_tokens
from regstd.runtime.testing import ServiceProcesses, free_port, letters

BIN = Path(sys.executable).parent
SERVICES = {
    "intake": "regstd-intake",
    "publication": "regstd-publication",
    "harmonization": "regstd-harmonization",
}
EXAMPLES = int(os.environ.get("REGSTD_FUZZ_EXAMPLES", "8"))
REGION = "51"
"""The regulator the fuzzer acts as (Sichuan): writes pass authentication and meet the domain's rules."""

NOT_CHECKED: dict[CheckFunction, str] = {
    # Stateful checks: they follow a created resource through its links. Our resources are not
    # deleted over the API (a standard is abolished, not removed), so there is nothing to use after
    # freeing, and no links are declared for them to follow.
    use_after_free: "no operation deletes a resource",
    ensure_resource_availability: "no links are declared between operations",
    # Schema-valid requests the domain refuses by its rules, rightly, with 422 (an unknown region or
    # area, a date before another, a text that is only spaces) or 403 for another region's regulator:
    # the schema cannot carry every rule. A 5xx or an undocumented status still fails.
    positive_data_acceptance: "the domain's rules refuse some schema-valid requests with 422",
}


@dataclass(frozen=True)
class Served:
    """A running service process: where it answers and where it logs."""

    url: str
    log: Path

    def unexpected(self) -> str:
        """The service's log lines about unexpected errors (with their tracebacks)."""
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(line for line in lines if '"level": "ERROR"' in line or "Traceback" in line)


@pytest.fixture(scope="module")
def served(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """The three services as their own processes on the session's stack, fresh databases and groups,
    and the token book they read."""
    home = tmp_path_factory.mktemp("fuzz")
    suffix = letters()
    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    book = home / "local.json"
    write_development_tokens(book, load_reference(), urls)
    running: dict[str, Served] = {}
    with ServiceProcesses() as processes:
        started = []
        for name, entry_point in SERVICES.items():
            log = home / f"{name}.log"
            env = dict(
                os.environ,
                REGSTD_KAFKA_BOOTSTRAP=stack.kafka_bootstrap,
                REGSTD_MONGO_URL=stack.mongo_url,
                REGSTD_MONGO_DATABASE=f"fuzz_{name}_{suffix}",
                REGSTD_CONSUMER_GROUP=f"fuzz-{name}-{suffix}",
                REGSTD_HTTP_PORT=str(ports[name]),
                REGSTD_TOKENS_FILE=str(book),
                REGSTD_SPANS_DIR=str(home / "spans"),
            )
            started.append(processes.start([str(BIN / entry_point)], env, log))
            running[name] = Served(urls[name], log)
        for process, service in zip(started, running.values(), strict=True):
            processes.wait_ready(process, f"{service.url}/health/ready", service.log)
        yield running


def _token(book: Path, region: str) -> str:
    issued = json.loads(book.read_text(encoding="utf-8"))["tokens"]
    return next(
        t["token"]
        for t in issued
        if t["principal"]["kind"] == "regulator" and t["principal"]["code"] == region
    )


@pytest.mark.parametrize("service", list(SERVICES))
def test_no_answer_is_a_5xx_or_undocumented(served: dict[str, Served], service: str) -> None:
    """Every operation of the service's OpenAPI document, with `EXAMPLES` valid and `EXAMPLES`
    invalid generated requests each, answered without a 5xx and as documented."""
    url = served[service].url
    token = _token(served[service].log.parent / "local.json", REGION)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,  # the same requests every run: a failure is reproducible
                suppress_health_check=list(HealthCheck),
                phases=[Phase.generate, Phase.shrink],
            )
            def answered_as_documented(case: Case) -> None:
                case.call_and_validate(
                    base_url=url,
                    headers={"Authorization": f"Bearer {token}"},
                    excluded_checks=list(NOT_CHECKED),
                    timeout=30,
                )

            try:
                answered_as_documented()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                # An operation without parameters or body: no request of it violates its schema.
            except (Exception, BaseExceptionGroup) as failure:  # every operation tried, every failure shown
                failures.append(f"{operation.label} ({mode.value}):\n{failure}")
    assert operations > 0, f"{service}'s OpenAPI document has no operation"
    if failures:
        logs = served[service].unexpected()[-6000:]
        pytest.fail(
            f"{len(failures)} of {2 * operations} operation×mode runs failed on {service}:\n\n"
            + "\n\n".join(failures)
            + (f"\n\nthe service logged unexpected errors:\n{logs}" if logs else ""),
            pytrace=False,
        )
