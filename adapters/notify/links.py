"""What an alert links to: its data (``generatorURL``) and the command that replays it.

An alert is read where the data is not: in Alertmanager, Slack, a phone. Two links make
it actionable, and both must work as they are:

- ``generatorURL`` (Alertmanager's link back to "whatever generated the alert"), as
  Prometheus sets it: the Prometheus graph of the rule's query over the rule's window,
  from the configured Prometheus URL. A configured template per source
  (``generator_urls``, with the placeholders of the digest's ``link_template``)
  replaces it, e.g. a Grafana Explore URL, or the Prometheus URL people's browsers use
  when graysignal reads it at an internal address. File rules link to their file.
- ``replay``: the ``graysignal replay`` command for the moment the alert fired, with
  absolute rule paths and the address of each server its rules read, so pasting it in
  a shell replays what the daemon saw (credentials are never included: they stay in
  the environment of whoever runs it).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

from adapters.settings import LokiSettings, PrometheusSettings, ServerSettings
from detector.digest.links import format_link
from detector.durations import format_duration
from detector.periods import Period
from detector.rule import Rule

__all__ = ["generator_url", "replay_command", "server_urls"]

URL_VARIABLES: Mapping[str, type[ServerSettings]] = {
    "prometheus": PrometheusSettings,
    "loki": LokiSettings,
}
"""Server sources and the settings whose ``URL`` variable points a replay at them."""


def server_urls(sources: Mapping[str, object]) -> dict[str, str]:
    """The public URL (no credentials) of each server source that has one."""
    urls: dict[str, str] = {}
    for name, source in sources.items():
        settings = getattr(source, "settings", None)
        if isinstance(settings, ServerSettings):
            urls[name] = settings.public_url
    return urls


def generator_url(
    rule: Rule,
    at: int,
    *,
    templates: Mapping[str, str],
    servers: Mapping[str, str],
) -> str | None:
    """The link of an alert of ``rule`` seen at ``at`` (see the module doc); ``None``
    for a Loki rule without a template (Loki has no page of its own to show)."""
    template = templates.get(rule.source)
    query = rule.query if rule.query is not None else (rule.path or "")
    if template is not None:
        period = Period(label=rule.signal, start=at - rule.window, end=at)
        return format_link(template, query=query, rule=rule.signal, series="", period=period)
    if rule.source == "prometheus" and "prometheus" in servers:
        return (
            f"{servers['prometheus']}/graph?g0.expr={quote(query, safe='')}"
            f"&g0.tab=0&g0.range_input={format_duration(rule.window)}"
        )
    if rule.source in ("file", "logfile") and rule.path:
        return Path(rule.path).absolute().as_uri()
    return None


def replay_command(
    rule_paths: Iterable[Path],
    at: str,
    *,
    lookback: str,
    sources_used: Iterable[str],
    servers: Mapping[str, str],
) -> str:
    """``GRAYSIGNAL_PROMETHEUS_URL=... graysignal replay /abs/rules --at T --lookback 14d``,
    quoted for a POSIX shell."""
    env = [
        f"{URL_VARIABLES[name].env_var('url')}={shlex.quote(servers[name])}"
        for name in sorted(set(sources_used))
        if name in URL_VARIABLES and name in servers
    ]
    paths = [shlex.quote(str(Path(p).absolute())) for p in rule_paths]
    return " ".join([*env, "graysignal", "replay", *paths, "--at", at, "--lookback", lookback])
