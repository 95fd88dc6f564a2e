"""Daemon configuration: flags over ``GRAYSIGNAL_*`` environment over a YAML file.

Every field is documented in README.md ("Running the daemon"). Secrets are ``SecretStr``
and print as ``**********``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from adapters.digest.settings import DigestSettings, digest_values
from adapters.notify.base import require_http_url
from adapters.rulefiles import load_yaml_model
from detector.digest.links import check_link_template
from detector.rule import PositiveDuration

SOURCES = ("prometheus", "loki", "file", "logfile")

DEFAULT_PORT = 9786


class DaemonSettings(BaseSettings):
    """What ``graysignal run`` needs besides the rule files themselves."""

    model_config = SettingsConfigDict(env_prefix="GRAYSIGNAL_", extra="forbid")

    rules: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path("rules")],
        description="rule files or directories (comma-separated in the environment)",
    )
    ledger: Path = Field(default=Path("graysignal.db"), description="SQLite ledger file")
    suppressions: Path | None = Field(
        default=None,
        description="reviewed suppressions file; default: suppressions.yaml beside the rules",
    )
    listen_address: str = Field(
        default=f"127.0.0.1:{DEFAULT_PORT}", description="host:port for /metrics, /healthz"
    )
    alertmanager_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Alertmanager base URLs; each gets every alert"
    )
    resend_interval: PositiveDuration = Field(
        default=60, description="how often firing alerts are re-sent to Alertmanager"
    )
    webhook_url: SecretStr | None = Field(default=None, description="generic JSON webhook")
    slack_webhook_url: SecretStr | None = Field(default=None, description="Slack webhook")
    stdout_notifications: bool = Field(default=False, description="print alerts as JSON")
    shard: str | None = Field(default=None, description="i/N: evaluate only this shard")
    flush_timeout: PositiveDuration = Field(
        default=10, description="seconds to keep delivering at shutdown"
    )
    finding_retention: PositiveDuration = Field(
        default=35 * 86_400,
        description="findings older than this are pruned from the ledger (hourly)",
    )
    generator_urls: dict[str, str] = Field(
        default_factory=dict,
        description="link template per source for each alert's generatorURL ({query}, "
        "{range}, ... as digest.link_template); default: the Prometheus graph of the query",
    )
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"
    digest: DigestSettings = Field(
        default_factory=dict,  # validated into DigestSettings by the validator below
        validate_default=True,
        description="weekly digest: schedule, Slack destination (GRAYSIGNAL_DIGEST_*)",
    )

    @field_validator("rules", "alertmanager_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("digest", mode="before")
    @classmethod
    def _digest_environment_over_file(cls, value: Any) -> Any:
        return digest_values(value)

    @field_validator("webhook_url", "slack_webhook_url")
    @classmethod
    def _secret_http_url(cls, value: SecretStr | None) -> SecretStr | None:
        """Reject a malformed notifier URL at start (exit 2), naming the field only: the
        URL is the secret, so neither it nor a parser's message quoting it is repeated."""
        if value is not None:
            _check_http_url(value.get_secret_value())
        return value

    @field_validator("alertmanager_urls")
    @classmethod
    def _alertmanager_http_urls(cls, value: list[str]) -> list[str]:
        for index, url in enumerate(value):
            try:
                _check_http_url(url)
                if "?" in url or "#" in url:  # API paths are appended to a base URL
                    raise ValueError("must be a base URL, without ?query or #fragment")
            except ValueError as exc:
                raise ValueError(f"URL {index + 1}: {exc}") from None
        return value

    @field_validator("generator_urls")
    @classmethod
    def _link_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for source, template in value.items():
            if source not in SOURCES:
                raise ValueError(f"unknown source {source!r}: use {', '.join(SOURCES)}")
            try:
                check_link_template(template)
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
        return value

    @field_validator("shard")
    @classmethod
    def _shard_form(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    @property
    def shard_index(self) -> tuple[int, int] | None:
        return None if self.shard is None else parse_shard(self.shard)


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/3"`` -> ``(1, 3)``; shards are numbered from 0 like StatefulSet ordinals."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError as exc:
        raise ValueError(f"shard {text!r} must look like i/N, e.g. 0/2") from exc
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {text!r}: need 0 <= i < N")
    return index, count


def _check_http_url(url: str) -> None:
    """``require_http_url`` never quotes the URL (it may hold a secret); drop its prefix."""
    try:
        require_http_url(url, "URL")
    except ValueError:
        raise ValueError("must look like http(s)://host[:port]/...") from None


def load_settings(config_file: Path | None = None, **overrides: Any) -> DaemonSettings:
    """Settings from flags (``overrides``), then the environment, then ``config_file``."""
    flags = {k: v for k, v in overrides.items() if v is not None}
    if config_file is None:
        return DaemonSettings(**flags)

    class FromFile(DaemonSettings):
        model_config = SettingsConfigDict(
            env_prefix="GRAYSIGNAL_", extra="forbid", yaml_file=config_file
        )

    return FromFile(**flags)


def check_settings_file(path: Path) -> DaemonSettings:
    """The settings in ``path`` alone (no flags, no environment but the digest's secrets),
    or :class:`~adapters.errors.InputError` with every problem as ``file:line: message``.

    ``graysignal check --config`` runs this, as ``promtool check config`` does for
    Prometheus: a typo in a key or a malformed URL is found before a restart, at the
    line where it was written.
    """
    return load_yaml_model(
        path,
        DaemonSettings,
        top_level="settings such as 'rules:'",
        empty="settings such as 'rules:' and 'ledger:'",
        models_at={(): DaemonSettings, ("digest",): DigestSettings},
    )
