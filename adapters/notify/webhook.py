"""A generic JSON webhook: POST the whole notification payload to one URL.

For consumers that are not Alertmanager (an incident tool, a ticket bot, a function):
they get the Alertmanager-shaped fields plus ``status``, ``fingerprint`` and the
``finding`` itself. Webhook URLs often carry their token, so the URL is a ``SecretStr``
and never appears in the name, ``repr``, logs or error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from adapters.notify.base import (
    HttpNotifier,
    post_json,
    register_secret,
    require_http_url,
    url_secrets,
)

__all__ = ["WebhookNotifier"]


class WebhookNotifier(HttpNotifier):
    """POSTs each payload as JSON; 2xx is delivered, 5xx/429/timeouts are retried.

    ``bearer_token`` adds ``Authorization: Bearer ...``. ``name`` keys this webhook's
    outbox rows: keep it stable across restarts, and give each webhook its own.
    """

    def __init__(
        self,
        url: SecretStr,
        *,
        name: str = "webhook",
        timeout: float = 10.0,
        bearer_token: SecretStr | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        raw = url.get_secret_value()
        require_http_url(raw, f"webhook {name!r}")
        super().__init__(timeout=timeout, client=client)
        self.name = name
        self._url = url
        self._token = bearer_token
        self._secrets = url_secrets(raw)
        if bearer_token is not None:
            self._secrets.append(bearer_token.get_secret_value())
        register_secret(*self._secrets)

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, url={self._url!r}, timeout={self.timeout})"

    def deliver(self, payload: Mapping[str, Any]) -> None:
        headers = {}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        post_json(
            self._client,
            self._url.get_secret_value(),
            dict(payload),
            target=f"webhook {self.name}",
            secrets=self._secrets,
            headers=headers,
        )
