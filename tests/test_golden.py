"""Golden files: compared, never written on the fly; written only with ``--update-golden``."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import check_golden

CONFTEST = Path(__file__).with_name("conftest.py")


def test_a_missing_golden_file_fails_and_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "golden" / "new.txt"
    with pytest.raises(pytest.fail.Exception, match=r"new\.txt is missing: run pytest"):
        check_golden(path, "text\n", update=False)
    assert not path.exists()
    assert not path.parent.exists()


def test_a_golden_file_that_differs_fails(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes(b"old\n")
    with pytest.raises(AssertionError, match=r"old\.txt differs"):
        check_golden(path, "new\n", update=False)
    check_golden(path, "old\n", update=False)
    assert path.read_bytes() == b"old\n"


def test_update_writes_the_file_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "golden" / "new.txt"
    check_golden(path, "é\r\n", update=True)
    assert path.read_bytes() == "é\r\n".encode()
    assert [p.name for p in path.parent.iterdir()] == ["new.txt"]
    check_golden(path, "again\n", update=True)
    assert path.read_bytes() == b"again\n"
    check_golden(path, "again\n", update=False)


def test_the_golden_fixture_fails_without_the_flag_and_writes_with_it(
    pytester: pytest.Pytester,
) -> None:
    """End to end: a test asking for a golden file that is not there fails, and passes once
    ``--update-golden`` has written it (in pytester's folder, not in tests/golden/)."""
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(
        test_it="""
        def test_it(golden):
            golden("it.txt", "the output\\n")
        """
    )
    written = pytester.path / "golden" / "it.txt"
    pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider").assert_outcomes(failed=1)
    assert not written.exists()
    args = ("-p", "no:xdist", "-p", "no:cacheprovider", "--update-golden")
    pytester.runpytest(*args).assert_outcomes(passed=1)
    assert written.read_text(encoding="utf-8") == "the output\n"
    pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider").assert_outcomes(passed=1)
