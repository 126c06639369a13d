"""The local token book (`var/local.json`, written by `regstd local up`): the principals one may sign
in as locally, and the services' endpoints."""

import json
from pathlib import Path
from typing import Any

from regstd.console.app.ports import ServiceName, SignedIn

SERVICES: tuple[ServiceName, ...] = ("project-intake", "publication", "harmonization")


class LocalBook:
    """Principals of the token book, read again when the file changes (a restarted stack)."""

    def __init__(self, path: Path, reader_token: str | None = None) -> None:
        self.path = path
        self._reader = reader_token
        self._stamp: float | None = None
        self._raw: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if stamp != self._stamp:
            self._raw = json.loads(self.path.read_text(encoding="utf-8"))
            self._stamp = stamp
        return self._raw

    def choices(self) -> list[SignedIn]:
        """Every principal of the book: regulators, partner cities, the operator."""
        return [SignedIn(token=t["token"], **t["principal"]) for t in self._read().get("tokens", [])]

    def who(self, token: str) -> SignedIn | None:
        """The principal a token was issued to."""
        return next((p for p in self.choices() if p.token == token), None)

    def reader_token(self) -> str | None:
        """The configured portal token, else the operator's (who may read everything, write nothing)."""
        if self._reader:
            return self._reader
        return next((p.token for p in self.choices() if p.kind == "operator"), None)

    def endpoints(self) -> dict[ServiceName, str]:
        """The services' endpoints as the book records them."""
        recorded = self._read().get("endpoints", {})
        return {name: recorded[name] for name in SERVICES if name in recorded}
