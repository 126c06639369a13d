"""The services' HTTP APIs over httpx, each call with the signed-in principal's bearer token."""

from typing import Any

import httpx

from regstd.console.app.ports import Refusal, ServiceName


class HttpGateway:
    """Calls the three services; a refusal carries the service's own message (its JSON `message`)."""

    def __init__(
        self,
        endpoints: dict[ServiceName, str],
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoints = endpoints
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def url(self, service: ServiceName, path: str) -> str:
        """The address of a service's path."""
        return self.endpoints[service].rstrip("/") + path

    async def call(
        self,
        token: str | None,
        service: ServiceName,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        """One call; JSON answers as data, others as text."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if content_type:
            headers["Content-Type"] = content_type
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self._http.request(
                method, self.url(service, path), params=clean, json=json, content=content, headers=headers
            )
        except httpx.HTTPError as error:
            raise Refusal(503, f"{service} did not answer ({type(error).__name__}); try again") from None
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body: Any = response.json() if is_json and response.content else response.text
        if response.status_code >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            raise Refusal(response.status_code, str(message or body or response.reason_phrase))
        return body
