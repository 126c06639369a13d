"""Settings of the console, from `REGSTD_CONSOLE_*` environment variables."""

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    """Where the console listens, where the services are and how sessions are signed."""

    model_config = SettingsConfigDict(env_prefix="REGSTD_CONSOLE_", extra="ignore", frozen=True)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8100, ge=0, le=65535)
    tokens_file: Path = Field(
        default=Path("var/local.json"),
        description="The local token book: the endpoints of the services and the principals one may "
        "sign in as. Production signs in with an OpenID Connect provider instead (decision 0032).",
    )
    intake_url: str | None = Field(default=None, description="Project intake; default: the token book's.")
    publication_url: str | None = Field(default=None, description="Publication; default: the token book's.")
    harmonization_url: str | None = Field(
        default=None, description="Harmonization; default: the token book's."
    )
    session_secret: str | None = Field(
        default=None,
        min_length=32,
        description="Signs the session cookie. Unset (local mode): generated once into `secret_file`.",
    )
    secret_file: Path = Field(default=Path("var/console-secret"), description="The local session secret.")
    portal_token: str | None = Field(
        default=None,
        description="The read-only token the public portal reads the catalogue with; unset (local "
        "mode): the operator's token from the token book (decision 0031).",
    )
    secure_cookies: bool = Field(default=False, description="Send the session cookie over HTTPS only.")
    assets_dir: Path = Field(
        default=Path(__file__).resolve().parents[3] / "node_modules",
        description="The npm packages installed by `npm ci` in services/console (htmx).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body the console takes (a form post)."
    )
    max_upload_bytes: int = Field(
        default=8 * 1024 * 1024 + 64 * 1024,
        ge=1024,
        description="Largest body of the limits upload: harmonization's 8 MiB import, and room for the "
        "multipart form around it. A larger file is refused here (413), before harmonization is called.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Longest a call to a service may take.")
    trace_ui_url: str | None = Field(
        default=None,
        description="The tracing back end's web address (Jaeger's UI, or one with its `/trace/<id>` and "
        "`/search` pages). The operator's flow page links it (decision 0034).",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="The standard OTLP variable: with a collector and no `trace_ui_url`, the flow page "
        "links Jaeger's UI on the collector's host (port 16686, Jaeger's default).",
    )

    def trace_ui(self) -> str | None:
        """The tracing back end's address: the configured one, else Jaeger's on the collector's host
        when a collector is configured, else none (spans are read from the services' files)."""
        if self.trace_ui_url:
            return self.trace_ui_url.rstrip("/")
        if self.otlp_endpoint:
            return f"http://{urlsplit(self.otlp_endpoint).hostname or '127.0.0.1'}:16686"
        return None
