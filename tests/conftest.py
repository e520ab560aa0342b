"""Shared fixtures: where the data mirror is, the tables built from it once per session, one torch thread,
and a fake evaluator (tests/fakes.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _mirror_dir() -> Path:
    return Path(os.environ.get("HWEVRSNAS_MIRROR", REPO.parent / "shared" / "data")).resolve()


# CI sets this: there the mirror is beside the clone, so a test that would skip for want of it fails instead.
REQUIRE_MIRROR = "HWEVRSNAS_REQUIRE_MIRROR"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that reads the data mirror (`-m "not mirror"` runs the rest on a machine without it)."""
    for item in items:
        if "mirror" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mirror)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The data mirror (HWEVRSNAS_MIRROR, else ../shared/data); tests needing it skip without it, or fail where
    HWEVRSNAS_REQUIRE_MIRROR is set (CI)."""
    path = _mirror_dir()
    if not (path / "MANIFEST.tsv").is_file():
        message = f"data mirror not found at {path} (set HWEVRSNAS_MIRROR)"
        if os.environ.get(REQUIRE_MIRROR):
            pytest.fail(f"{message}; {REQUIRE_MIRROR} is set, so the tests that read it may not skip")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def nb201_h5(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The NB201 table built once from the mirror for the whole test session."""
    from hwevrsnas.tables.nb201 import build_from_mirror

    out = tmp_path_factory.mktemp("tables") / "nb201.h5"
    build_from_mirror(mirror, out)
    return out


@pytest.fixture(scope="session")
def nb201(nb201_h5: Path):
    """The NB201 table, opened."""
    from hwevrsnas.tables.store import NB201Table

    return NB201Table.open(nb201_h5)


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test (how scores are defined; faster for tiny networks on 2 cores)."""
    from hwevrsnas.proxy.determinism import pinned_threads

    with pinned_threads():
        yield


@pytest.fixture
def fake_evaluator(nb201):
    """A factory of fake evaluators on the session's NB201 table (phi = the representative's 12-epoch accuracy)."""
    from fakes import FakeEvaluator

    return lambda **kwargs: FakeEvaluator(nb201, **kwargs)
