"""Where the data mirror must exist (CI sets HWEVRSNAS_REQUIRE_MIRROR), a test that reads it fails instead of skipping."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")
READS_THE_MIRROR = """
import pytest

def test_reads_the_mirror(mirror):
    assert (mirror / "MANIFEST.tsv").is_file()

def test_the_mirror_marker_is_set(request, mirror):
    assert request.node.get_closest_marker("mirror")
"""


@pytest.mark.parametrize("required,outcome", [(False, {"skipped": 2}), (True, {"errors": 2})], ids=["optional", "required"])
def test_a_missing_mirror_skips_unless_required(pytester: pytest.Pytester, monkeypatch, tmp_path, required, outcome):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(READS_THE_MIRROR)
    monkeypatch.setenv("HWEVRSNAS_MIRROR", str(tmp_path / "no-mirror"))
    if required:
        monkeypatch.setenv("HWEVRSNAS_REQUIRE_MIRROR", "1")
    else:
        monkeypatch.delenv("HWEVRSNAS_REQUIRE_MIRROR", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(**outcome)
    if required:
        result.stdout.fnmatch_lines(["*HWEVRSNAS_REQUIRE_MIRROR is set, so the tests that read it may not skip*"])


def test_tests_that_read_the_mirror_are_marked(pytester: pytest.Pytester, monkeypatch, mirror):
    monkeypatch.setenv("HWEVRSNAS_MIRROR", str(mirror))
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(READS_THE_MIRROR)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "mirror").assert_outcomes(passed=2)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not mirror").assert_outcomes(deselected=2)
