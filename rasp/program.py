"""Loading RASP files into programs: parse, check, run the statements, evaluate s-ops.

    program = rasp.load("examples/sort.rasp")
    program.names()                       # what the file defines
    program.run("sort", ["banana", "ab"])  # one list of Python values per input

A `Workspace` owns the scopes: the primitives, the standard library (loaded
once, its `_private` names hidden) and every file brought in with `load`,
which is looked up beside the loading file and then on the search path, and
never outside those folders.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from rasp import ast, evaluate, graph, library, limits
from rasp.checker import Checker, builtin_scope
from rasp.errors import RaspError, RaspNameError, RaspTypeError, RaspValueError, did_you_mean
from rasp.interpreter import Interpreter, Scope
from rasp.parser import parse


@dataclass
class LoadedFile:
    """A file after checking and running: its static kinds and its values."""

    path: Path
    source: str
    kinds: dict[str, Any]
    scope: Scope

    def public_values(self) -> dict[str, Any]:
        return {n: v for n, v in self.scope.variables.items() if not n.startswith("_")}

    def public_kinds(self) -> dict[str, Any]:
        return {n: k for n, k in self.kinds.items() if not n.startswith("_")}


class Workspace:
    """Scopes, loaded files and sources (for rendering errors) of one session."""

    def __init__(self, search_path: Sequence[Path | str] = ()):
        self.search_path = [Path(p) for p in search_path]
        for folder in self.search_path:   # a mistyped folder would otherwise find nothing
            if not folder.is_dir():
                raise RaspValueError(f"search path {folder}: no such folder",
                                     hint="give folders that exist (-I DIR)")
        self.sources: dict[str, str] = {}
        self._files: dict[Path, LoadedFile] = {}
        self._loading: list[Path] = []
        library_file = _standard_library()
        self.library_kinds = library_file.public_kinds()
        self.library_scope = Scope()
        self.library_scope.variables.update(library.primitives())
        self.library_scope.variables.update(library_file.public_values())
        self.reserved = frozenset(self.library_scope.variables)
        self.nodes = graph.new_table()
        self.sources["rasplib.rasp"] = library_file.source

    def static_scope(self) -> dict[str, Any]:
        return {**builtin_scope(), **self.library_kinds}

    def new_scope(self) -> Scope:
        return Scope(self.library_scope)

    def interpreter(self, scope: Scope, directory: Optional[Path]) -> Interpreter:
        return Interpreter(scope, loader=self._value_loader(directory), reserved=self.reserved,
                           nodes=self.nodes)

    def checker(self, directory: Optional[Path]) -> Checker:
        return Checker(self.static_scope(), loader=self._kind_loader(directory))

    def load_file(self, path: Path) -> LoadedFile:
        """Parse, check and run a file (once per session)."""
        resolved = path.resolve()
        if resolved in self._files:
            return self._files[resolved]
        if resolved in self._loading:
            raise RaspValueError(f"`{resolved.name}` loads itself (through "
                                 f"{' -> '.join(p.name for p in self._loading)})")
        self._loading.append(resolved)
        try:
            # Read through the path as given, so that a failure names the file as the user did.
            loaded = self.load_source(_read(path), _display_name(resolved), resolved)
        finally:
            self._loading.pop()
        self._files[resolved] = loaded
        return loaded

    def load_source(self, source: str, filename: str, path: Path) -> LoadedFile:
        """Parse, check and run source text; `load` looks beside `path` first."""
        self.sources[filename] = source
        try:
            module = parse(source, filename)
            kinds = self.checker(path.parent).check_module(module, source=source)
            scope = self.new_scope()
            self.interpreter(scope, path.parent).execute_module(module)
        except RaspError as error:
            raise self.attach_source(error) from None
        except RecursionError:
            raise RaspValueError(f"{filename}: the program is nested too deeply to run",
                                 hint="split deep expressions into several assignments") from None
        return LoadedFile(path, source, kinds, scope)

    def attach_source(self, error: RaspError) -> RaspError:
        return error.with_source(self.sources[error.span.file]) \
            if error.span.file in self.sources else error

    def resolve(self, name: str, directory: Optional[Path], span: ast.Span) -> Path:
        """The file `load "name";` means: beside the loader, then on the search path."""
        relative = Path(name if name.endswith(".rasp") else name + ".rasp")
        if relative.is_absolute():
            raise RaspValueError(f"`load` takes a name relative to the search path, not the "
                                 f"absolute path `{name}`", span)
        folders = ([directory] if directory else []) + self.search_path
        for folder in folders:
            try:
                candidate = (folder / relative).resolve()
                found = candidate.is_file()
            except (OSError, ValueError) as error:   # a NUL byte, a name too long, ...
                reason = getattr(error, "strerror", None) or str(error)
                raise RaspValueError(f"`load` cannot look for a file named {name!r} "
                                     f"({reason})", span,
                                     hint="load a program by its file name, without the "
                                          "folder or .rasp") from None
            if not candidate.is_relative_to(folder.resolve()):
                raise RaspValueError(f"`load \"{name}\"` points outside `{folder}`", span,
                                     hint="load files beside the program or on the search path")
            if found:
                return candidate
        searched = ", ".join(str(f) for f in folders) or "nowhere (no search path)"
        raise RaspValueError(f"cannot find `{relative}` (searched {searched})", span)

    def _value_loader(self, directory: Optional[Path]):
        def load(name: str, span: ast.Span) -> dict[str, Any]:
            return self.load_file(self.resolve(name, directory, span)).public_values()
        return load

    def _kind_loader(self, directory: Optional[Path]):
        def load(name: str, span: ast.Span) -> dict[str, Any]:
            return self.load_file(self.resolve(name, directory, span)).public_kinds()
        return load


class Program:
    """A checked RASP file whose s-ops can be evaluated on batches of inputs."""

    def __init__(self, loaded: LoadedFile, workspace: Workspace):
        self.path = loaded.path
        self.source = loaded.source
        self.kinds = loaded.kinds
        self.scope = loaded.scope
        self.workspace = workspace

    def names(self) -> list[str]:
        """The public names the file defines, in definition order."""
        return [n for n in self.scope.variables if not n.startswith("_")]

    def sops(self) -> list[str]:
        return [n for n in self.names() if isinstance(self.scope.variables[n], graph.Sop)]

    def sop(self, name: str) -> graph.Sop:
        """The graph node of a named s-op; `_private` names are not the file's to give."""
        value = None if name.startswith("_") else self.scope.variables.get(name)
        if value is None:
            raise RaspNameError(f"`{self.path.name}` defines no s-op `{name}`",
                                hint=did_you_mean(name, self.names()) or
                                f"it defines: {', '.join(self.sops()) or 'no s-ops'}")
        if not isinstance(value, graph.Sop):
            raise RaspTypeError(f"`{name}` is not an s-op")
        return value

    def __reduce__(self) -> tuple[Any, tuple]:
        """Pickled as its source, path and search path, and checked again when unpickled (its
        values hold the library's functions, which do not pickle): for worker processes."""
        return _reloaded, (self.source, self.path, self.workspace.search_path)

    def run(self, name: str, inputs: Iterable[Any],
            max_length: int = limits.MAX_INPUT_LENGTH) -> list[list]:
        """Evaluate s-op `name` on each input (a string or a list of tokens) of at most
        `max_length` tokens."""
        node = self.sop(name)
        try:
            return evaluate.run(node, inputs, max_length)
        except RaspError as error:
            raise self.workspace.attach_source(error) from None


def load(path: str | Path, search_path: Sequence[str | Path] = ()) -> Program:
    """Parse, check and run a RASP file; raise `RaspError` on any mistake."""
    workspace = Workspace(search_path)
    return Program(workspace.load_file(Path(path)), workspace)


def loads(source: str, filename: str = "<string>",
          search_path: Sequence[str | Path] = ()) -> Program:
    """Like `load`, for source text; `load` statements look in the current folder first."""
    workspace = Workspace(search_path)
    return Program(workspace.load_source(source, filename, Path.cwd() / filename), workspace)


def _reloaded(source: str, path: Path, search_path: Sequence[Path]) -> Program:
    """A pickled `Program`: its source loaded again, `load`s resolved beside `path` as before."""
    workspace = Workspace(search_path)
    return Program(workspace.load_source(source, _display_name(path), path), workspace)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RaspValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RaspValueError(f"{path}: cannot read ({error})") from None


def _display_name(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@functools.cache
def _standard_library() -> LoadedFile:
    source = library.LIBRARY_FILE.read_text(encoding="utf-8")
    module = parse(source, "rasplib.rasp")
    kinds = Checker(builtin_scope()).check_module(module, source=source)
    base = Scope()
    base.variables.update(library.primitives())
    scope = Scope(base)
    Interpreter(scope).execute_module(module)
    return LoadedFile(library.LIBRARY_FILE, source, kinds, scope)
