"""Shared fixtures: where the NAB corpus lives and how to load one of its series."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from adapters.sources.files import read_series_file
from detector.series import Series

REPO = Path(__file__).resolve().parents[1]
NAB_ROOT = Path(os.environ.get("GRAYSIGNAL_NAB_ROOT", REPO.parent / "shared" / "datasets" / "nab"))


@pytest.fixture(scope="session")
def nab_root() -> Path:
    if not (NAB_ROOT / "data").is_dir():
        pytest.fail(f"NAB corpus not found at {NAB_ROOT}; set GRAYSIGNAL_NAB_ROOT")
    return NAB_ROOT


def load_nab(name: str) -> Series:
    """One NAB series by its corpus-relative name, e.g. ``artificialNoAnomaly/art_noisy.csv``."""
    (series,) = read_series_file(NAB_ROOT / "data" / name)
    return series


@pytest.fixture(autouse=True)
def fresh_structlog() -> Iterator[None]:
    """Every test starts and ends with structlog's default configuration.

    Commands configure structlog globally (a level filter, a stream); a test that ran a
    command before must not decide whether a later test's ``capture_logs`` sees anything.
    """
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
