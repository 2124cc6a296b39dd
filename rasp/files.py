"""Writing files so that a reader never sees half of one (the project's one atomic writer),
and output folders checked before any work starts.

The data goes to a temporary file in the destination's folder, is flushed to disk, and the
temporary file is renamed over the destination (`os.replace` is atomic on POSIX and Windows).
A crash at any moment leaves either the old file or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from rasp.errors import RaspValueError


@contextlib.contextmanager
def writing_atomically(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write; it replaces `path` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes the file private; results are for sharing
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(path: str | Path, data: bytes | str) -> None:
    """Replace `path` by `data` (text is written as UTF-8)."""
    with writing_atomically(path) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)


def output_folder(path: str | Path, option: str = "-o") -> Path:
    """`path` made ready to receive files before any work starts, so that a mistake costs
    nothing: created when missing; `RaspValueError` naming it (and the command-line `option`
    that gave it) when it is a file, cannot be created or cannot be written to."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise RaspValueError(f"{option} {path}: is a file, not a folder",
                                 hint="pass a folder; it is created if missing")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise RaspValueError(f"{option} {path}: cannot write there ({reason})",
                             hint="pass a folder you can write to") from None
    return path


@contextlib.contextmanager
def hypothesis_scratch() -> Iterator[None]:
    """Within the block, Hypothesis keeps the files it writes on its own (caches of constants
    found in local modules, ...) in a temporary folder that is removed afterwards, instead of
    a `.hypothesis/` folder in the user's current folder."""
    from hypothesis import configuration   # only the searches that use Hypothesis need it

    previous = getattr(configuration, "__hypothesis_home_directory", None)
    with tempfile.TemporaryDirectory(prefix="rasp-hypothesis-") as scratch:
        configuration.set_hypothesis_home_dir(scratch)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(previous)
