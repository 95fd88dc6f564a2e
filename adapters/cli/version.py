"""``graysignal --version``: what a bug report needs, the way ``prometheus --version`` says it.

Versions come from the installed packages' metadata (:mod:`importlib.metadata`), never
from importing the libraries: numpy or statsmodels would cost more than the answer.
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

__all__ = ["KEY_LIBRARIES", "version_text"]

KEY_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "ruptures",
    "pydantic",
    "typer",
    "rich",
)
"""The libraries whose versions change what graysignal computes or prints."""


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def version_text() -> str:
    """``graysignal, version X`` then Python, the platform and the key libraries."""
    lines = [
        f"graysignal, version {_installed('graysignal')}",
        f"  python:      {platform.python_version()} ({platform.python_implementation()})",
        f"  platform:    {sys.platform} {platform.machine()}",
    ]
    lines += [f"  {name + ':':<12} {_installed(name)}" for name in KEY_LIBRARIES]
    return "\n".join(lines)
