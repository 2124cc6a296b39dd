"""rasp/files.py: output folders checked before any work, and Hypothesis kept out of the
user's folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rasp
from rasp.files import output_folder

ROOT = Path(__file__).resolve().parent.parent


def test_an_output_folder_is_created_or_refused_in_one_line(tmp_path: Path) -> None:
    assert output_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    for bad, fragment in ((tmp_path / "file", "is a file, not a folder"),
                          (tmp_path / "file" / "sub", "cannot write there"),
                          (Path("/proc/x"), "cannot write there")):
        with pytest.raises(rasp.RaspValueError, match=fragment):
            output_folder(bad, "-o")


HYPOTHESIS_SEARCH = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from hypothesis import find, settings, strategies as st
    import generalization.tasks    # modules outside site-packages, whose constants Hypothesis
    from rasp.files import hypothesis_scratch   # caches under .hypothesis/constants

    def search():
        find(st.lists(st.integers(0, 100)), lambda x: sum(x) > 500,
             settings=settings(database=None, derandomize=True, max_examples=500))

    if sys.argv[1] == "guarded":
        with hypothesis_scratch():
            search()
    else:
        search()
""")


@pytest.mark.parametrize("mode", ["plain", "guarded"])
def test_hypothesis_writes_nothing_into_the_current_folder_within_the_guard(
        tmp_path: Path, mode: str) -> None:
    """The plain search shows what the guard prevents: Hypothesis's own cache folder."""
    script = tmp_path / "search.py"
    script.write_text(HYPOTHESIS_SEARCH.format(root=str(ROOT)))
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, str(script), mode], cwd=work, check=True, timeout=120,
                   capture_output=True)
    assert (work / ".hypothesis").exists() == (mode == "plain")
