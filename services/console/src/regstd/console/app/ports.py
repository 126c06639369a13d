"""What the pages need from outside: the services' APIs, called as one principal."""

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

ServiceName = Literal["project-intake", "publication", "harmonization"]
PrincipalKind = Literal["regulator", "city", "operator"]


class Refusal(Exception):
    """A service refused a call (or could not be reached); the message is the service's own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SignedIn(BaseModel):
    """Who the session acts as: the principal a token was issued to, and the token itself."""

    model_config = ConfigDict(frozen=True)

    kind: PrincipalKind
    code: str
    name: str
    token: str


class Gateway(Protocol):
    """The three services' HTTP APIs."""

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
        """One call with a JSON body, or raw `content` of `content_type` (an uploaded file); the
        answer's JSON (or text), or `Refusal` for a 4xx/5xx or no answer."""
        ...

    def url(self, service: ServiceName, path: str) -> str:
        """The public address of a service's path (a feed, a text), for a link."""
        ...


class Principals(Protocol):
    """Who may sign in: locally the token book; in production the OpenID Connect provider."""

    def choices(self) -> list[SignedIn]:
        """The principals offered on the sign-in page (empty where none are offered)."""
        ...

    def who(self, token: str) -> SignedIn | None:
        """The principal of a token, or None for an unknown one."""
        ...

    def reader_token(self) -> str | None:
        """The read-only token of the public portal."""
        ...
