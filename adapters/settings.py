"""Connection settings for the server sources, read from ``GRAYSIGNAL_*`` variables.

Why environment variables: graysignal runs beside the monitoring it reads (a container,
a systemd unit, a CI job), and those already hand out URLs and credentials that way.
Each server has its own prefix, so one process can read a Prometheus and a Loki with
different tenants and credentials.

Secrets (``bearer_token``, ``password``) are :class:`~pydantic.SecretStr`: they print
as ``**********`` in reprs, logs and error messages. Settings are read when a source is
constructed, not at import, and a bad value is reported as an :class:`InputError` that
names the environment variable, never the value (it might be a secret).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import ByteSize, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from adapters.errors import InputError, Problem

__all__ = [
    "LokiSettings",
    "PrometheusSettings",
    "ServerSettings",
    "display_url",
    "env_var_of",
    "load_settings",
]

_SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|cookie|pass", re.IGNORECASE)
MASK = "**********"
TENANT_HEADER = "X-Scope-OrgID"


def display_url(url: str) -> str:
    """The URL without any ``user:password@`` part, safe to print."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class ServerSettings(BaseSettings):
    """What every HTTP metrics server needs: where it is, who we are, how patient to be.

    Subclasses set the ``env_prefix`` and the default ``url``.
    """

    url: str
    bearer_token: SecretStr | None = Field(
        default=None, description="sent as 'Authorization: Bearer <token>'"
    )
    username: str | None = Field(default=None, description="HTTP basic auth user")
    password: SecretStr | None = Field(default=None, description="HTTP basic auth password")
    ca_file: Path | None = Field(default=None, description="PEM bundle to verify the server")
    verify_tls: bool = Field(default=True, description="false only for throwaway test setups")
    timeout: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='extra headers as a JSON object, e.g. {"X-Scope-OrgID": "tenant"}',
    )
    tenant: str | None = Field(
        default=None, description="shortcut for the X-Scope-OrgID header (Mimir, Loki, Cortex)"
    )
    max_series_per_rule: int = Field(
        default=1000, ge=1, description="a query matching more series fails its rule"
    )
    max_response_bytes: ByteSize = Field(
        default=ByteSize(64 << 20),
        gt=0,
        description="an answer larger than this fails its rule (read no further)",
    )
    max_request_seconds: float = Field(
        default=120.0,
        gt=0,
        description="one request, from connecting to the last byte of the answer",
    )
    retries: int = Field(default=3, ge=0, description="retries after the first attempt")
    backoff_seconds: float = Field(
        default=0.5, ge=0, description="first retry delay; doubles on each further retry"
    )

    server_name: ClassVar[str] = "server"

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return text

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> ServerSettings:
        env = type(self).env_var
        if self.bearer_token is not None and self.username is not None:
            raise ValueError(
                f"set either {env('bearer_token')} or {env('username')}/{env('password')}, not both"
            )
        if self.password is not None and self.username is None:
            raise ValueError(f"{env('password')} needs {env('username')}")
        return self

    @classmethod
    def env_var(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        return env_var_of(cls, field)

    def request_headers(self) -> dict[str, str]:
        """Headers for every request: the extra ones, the tenant and the bearer token."""
        out = {"Accept": "application/json", "User-Agent": "graysignal"}
        out.update(self.headers)
        if self.tenant:
            out[TENANT_HEADER] = self.tenant
        if self.bearer_token is not None:
            out["Authorization"] = f"Bearer {self.bearer_token.get_secret_value()}"
        return out

    def basic_auth(self) -> tuple[str, str] | None:
        if self.username is None:
            return None
        password = self.password.get_secret_value() if self.password is not None else ""
        return self.username, password

    def verify(self) -> bool | str:
        """``requests``-style TLS verification: a CA bundle path, or on/off."""
        if not self.verify_tls:
            return False
        return str(self.ca_file) if self.ca_file is not None else True

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, so messages can be scrubbed of them before they leave."""
        found: list[str] = []
        for secret in (self.bearer_token, self.password):
            if secret is not None and secret.get_secret_value():
                found.append(secret.get_secret_value())
        auth = self.basic_auth()
        if auth is not None and auth[1]:
            # The Authorization header as sent, in case a server echoes it back.
            found.append(base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        parts = urlsplit(self.url)
        if parts.password:
            found.append(parts.password)
        found.extend(v for k, v in self.headers.items() if _SENSITIVE_HEADER.search(k) and v)
        return tuple(found)

    @property
    def public_url(self) -> str:
        return display_url(self.url)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        """Mask what pydantic would print verbatim: credentials in the URL or headers."""
        for name, value in super().__repr_args__():
            if name == "url":
                yield name, self.public_url
            elif name == "headers":
                yield (
                    name,
                    {k: MASK if _SENSITIVE_HEADER.search(k) else v for k, v in value.items()},
                )
            else:
                yield name, value


class PrometheusSettings(ServerSettings):
    """``GRAYSIGNAL_PROMETHEUS_*``: any server speaking the Prometheus query API
    (Prometheus, VictoriaMetrics, Thanos Query, Mimir, Cortex)."""

    model_config = SettingsConfigDict(env_prefix="GRAYSIGNAL_PROMETHEUS_", extra="ignore")
    server_name: ClassVar[str] = "prometheus"

    url: str = "http://127.0.0.1:9090"


class LokiSettings(ServerSettings):
    """``GRAYSIGNAL_LOKI_*``: a Loki (or Grafana Enterprise Logs) query endpoint."""

    model_config = SettingsConfigDict(env_prefix="GRAYSIGNAL_LOKI_", extra="ignore")
    server_name: ClassVar[str] = "loki"

    url: str = "http://127.0.0.1:3100"
    max_query_days: float = Field(
        default=30.0,
        gt=0,
        description="longest time range per request; Loki's max_query_length is 30d1h by default",
    )
    max_lines_per_request: int = Field(
        default=5000,
        ge=1,
        description="by: pattern mined here: log lines per query_range page "
        "(Loki's max_entries_limit_per_query is 5000 by default)",
    )


S = TypeVar("S", bound=BaseSettings)

_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "(?P<field>[^"]+)"')


def env_var_of(cls: type[BaseSettings], field: str) -> str:
    """The environment variable that sets ``field`` of the settings class ``cls``."""
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Read ``cls`` from the environment (``overrides`` win); bad values raise
    :class:`InputError` naming each variable and what is wrong, never the value."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            where = env_var_of(cls, field) if field else f"{env_var_of(cls, '')}*"
            problems.append(Problem(where, _plain(error["msg"])))
        raise InputError(problems) from None
    except SettingsError as exc:
        match = _FIELD_IN_SETTINGS_ERROR.search(str(exc))
        field = match["field"] if match else ""
        where = env_var_of(cls, field) if field else f"{env_var_of(cls, '')}*"
        hint = (
            'must be a JSON object such as {"X-Scope-OrgID": "tenant"}'
            if field == "headers"
            else "is not valid JSON"
        )
        raise InputError([Problem(where, hint)]) from None


def _plain(message: str) -> str:
    """pydantic's ``Value error, must be ...`` reads better without its prefix."""
    return message.removeprefix("Value error, ")
