"""Digest settings: ``GRAYSIGNAL_DIGEST_*`` environment over the ``digest:`` YAML section.

The webhook URL and the bot token are credentials, so they are ``SecretStr``: they print
as ``**********`` in reprs, errors and logs. Everything is validated when the settings
load (a bad schedule or link template names its field and the command exits 2), not on
Monday morning when the digest is due.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from adapters.digest.schedule import Schedule
from adapters.notify.base import require_http_url
from detector.digest import DEFAULT_GROUP_LABELS, check_link_template
from detector.rule import PositiveDuration

__all__ = ["DigestSettings", "digest_values"]

SLACK_API_URL = "https://slack.com/api/"
SECRET_FIELDS = frozenset({"slack_webhook_url", "slack_bot_token"})


class DigestSettings(BaseSettings):
    """Where and when the weekly digest goes, and how it reads (docs/digest.md)."""

    model_config = SettingsConfigDict(env_prefix="GRAYSIGNAL_DIGEST_", extra="forbid")

    schedule: str | None = Field(
        default=None, description="cron + IANA zone, e.g. '0 9 * * MON Europe/Berlin'"
    )
    slack_webhook_url: SecretStr | None = Field(default=None, description="incoming webhook")
    slack_bot_token: SecretStr | None = Field(default=None, description="bot token (xoxb-)")
    slack_channel: str | None = Field(default=None, description="channel for the bot token")
    slack_api_url: str = Field(default=SLACK_API_URL, description="Slack Web API base URL")
    link_template: str | None = Field(
        default=None, description="URL per item; {query} {start} {end} ... are URL-encoded"
    )
    group_labels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_GROUP_LABELS),
        description="labels that group items (comma-separated in the environment)",
    )
    history_weeks: int = Field(
        default=4, ge=0, le=52, description="earlier weeks evaluated to count drifting weeks"
    )
    timeout: PositiveDuration = Field(default=10, description="seconds per Slack request")

    @model_validator(mode="before")
    @classmethod
    def _hide_secrets_early(cls, data: Any) -> Any:
        """Wrap credentials before anything else sees them: a validation error repeats
        its input, and an input that is a ``SecretStr`` prints as ``**********``."""
        if isinstance(data, dict):
            return {
                k: SecretStr(v) if k in SECRET_FIELDS and isinstance(v, str) else v
                for k, v in data.items()
            }
        return data

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            Schedule.parse(value)
        return value

    @field_validator("link_template")
    @classmethod
    def _valid_template(cls, value: str | None) -> str | None:
        if value is not None:
            check_link_template(value)
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _valid_api_url(cls, value: str) -> str:
        require_http_url(value, "slack_api_url")
        return value if value.endswith("/") else value + "/"

    @field_validator("group_labels", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("slack_webhook_url")
    @classmethod
    def _valid_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            require_http_url(value.get_secret_value(), "slack_webhook_url")
        return value

    @model_validator(mode="after")
    def _one_destination(self) -> DigestSettings:
        if self.slack_webhook_url is not None and self.slack_bot_token is not None:
            raise ValueError("set slack_webhook_url or slack_bot_token, not both")
        if self.slack_bot_token is not None and not self.slack_channel:
            raise ValueError("slack_bot_token needs slack_channel (e.g. #drift or C0123456)")
        if self.schedule is not None and self.destination is None:
            raise ValueError(
                "schedule needs a Slack destination: slack_webhook_url, or slack_bot_token "
                "and slack_channel"
            )
        return self

    @property
    def parsed_schedule(self) -> Schedule | None:
        return None if self.schedule is None else Schedule.parse(self.schedule)

    @property
    def destination(self) -> str | None:
        """Where posts go, without any secret: ``slack:#drift`` or ``slack:webhook``."""
        if self.slack_bot_token is not None:
            return f"slack:{self.slack_channel}"
        if self.slack_webhook_url is not None:
            return "slack:webhook"
        return None


def digest_values(file_values: Any) -> Any:
    """The ``digest:`` section with ``GRAYSIGNAL_DIGEST_*`` variables laid over it.

    The daemon's settings read ``digest`` from the YAML file; this keeps the documented
    precedence (environment over file) for its fields too. Values are left for pydantic
    to validate, so errors name ``digest.<field>``.
    """
    if file_values is None:
        file_values = {}
    if not isinstance(file_values, dict):
        return file_values
    merged = {**file_values, **EnvSettingsSource(DigestSettings)()}
    return {
        k: SecretStr(v) if k in SECRET_FIELDS and isinstance(v, str) else v
        for k, v in merged.items()
    }
