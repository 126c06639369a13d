"""A thin HTTP client for the services' APIs, acting as one principal from the token book.

Every write it sends carries a fresh `Idempotency-Key` (one per request a command makes); when the
connection fails before an answer arrives it sends the same request with the same key again, so a
retried write is answered once by the service, never done twice (decision 28)."""

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WRITE_ATTEMPTS = 3
"""How often a write is sent when the connection fails before its answer (same key each time)."""


class ApiError(RuntimeError):
    """A service refused a request; the message is the service's own."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class TokenBookFile:
    """The local token book: endpoints and the development tokens of every principal."""

    endpoints: dict[str, str]
    tokens: dict[str, str]  # principal code -> token

    @classmethod
    def load(cls, path: Path) -> "TokenBookFile":
        """Read var/local.json as written by `regstd local up`."""
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: start the system with `make up` first")
        raw = json.loads(path.read_text(encoding="utf-8"))
        tokens = {t["principal"]["code"]: t["token"] for t in raw["tokens"]}
        return cls(endpoints=raw["endpoints"], tokens=tokens)

    def token(self, code: str) -> str:
        """The token of the regulator of a region, of a partner city, or of the operator ('ops')."""
        try:
            return self.tokens[code]
        except KeyError:
            raise KeyError(
                f"no token for {code!r}: use a region code (50), a city code (510100) or ops"
            ) from None


class Api:
    """Calls to the services' HTTP APIs as one principal."""

    def __init__(
        self, book: TokenBookFile, acting_as: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.book = book
        self.acting_as = acting_as
        headers = {"Authorization": f"Bearer {book.token(acting_as)}"}
        self._http = httpx.Client(headers=headers, timeout=30, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.book.endpoints[service] + path
        if method.upper() not in WRITE_METHODS:
            return self._http.request(method, url, **kwargs)
        headers = {**kwargs.pop("headers", {}), "Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError:
                if attempt == WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _call(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(service, method, path, **kwargs)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body

    def intake(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to project intake."""
        return self._call("project-intake", method, path, **kwargs)

    def publication(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to publication."""
        return self._call("publication", method, path, **kwargs)

    def text(self, service: str, path: str, **kwargs: Any) -> str:
        """A GET answered as text (CSV, Atom) by a service named as in the token book."""
        response = self._http.get(self.book.endpoints[service] + path, **kwargs)
        if response.status_code >= 400:
            is_json = response.headers.get("content-type", "").startswith("application/json")
            raise ApiError(response.status_code, response.json() if is_json else response.text)
        return response.text

    def harmonization(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to harmonization (JSON answers as data, others as text)."""
        response = self._send("harmonization", method, path, **kwargs)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body = response.json() if is_json and response.content else response.text
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body
