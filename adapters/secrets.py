"""Secrets that must never leave the process: masking them, and finding them in the
environment where graysignal reads its credentials.

Settings hold secrets as ``SecretStr`` and the notifiers and sources scrub the values
they know of. Text that nobody planned for (an exception's message, a traceback) is
scrubbed of every value of a secret-looking ``GRAYSIGNAL_*`` variable as well: a bug
report or a log line must not carry a credential.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

__all__ = ["MASK", "environment_secrets", "redact"]

MASK = "**********"  # what pydantic's SecretStr prints

_SECRET_NAME = re.compile(r"^GRAYSIGNAL_.*(TOKEN|PASSWORD|SECRET|KEY|WEBHOOK_URL)", re.IGNORECASE)
_SHORTEST = 5  # shorter URL parts ("/", "/api") are not secrets and would mask too much


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (longest first) with ``**********``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def environment_secrets(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Values of secret-looking ``GRAYSIGNAL_*`` variables (tokens, passwords, webhook
    URLs), with the parts of a URL that carry its credential (path, query, password)."""
    found: set[str] = set()
    for name, value in environ.items():
        if not value or not _SECRET_NAME.search(name):
            continue
        found.add(value)
        parts = urlsplit(value)
        if parts.scheme and parts.netloc:
            found.update(
                p for p in (parts.path, parts.query, parts.password or "") if len(p) >= _SHORTEST
            )
    return sorted(found, key=len, reverse=True)
