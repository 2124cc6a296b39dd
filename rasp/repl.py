"""The interactive RASP session (`rasp repl`), behaving like the original's REPL.

Guarantees:

* each entry is read until it parses: while the parse fails only for lack of
  input (an open `def ... {`, a missing `;`) more lines are read, under the
  continuation prompt `.. `; an entry is checked as a whole (nothing of it runs
  if the checker objects), then its statements run in order;
* after each statement its results are shown: `s-op: NAME` with the value on
  the running example (default "hello"), `selector: NAME` with its matrix,
  `value: NAME = ...`, `function: name(a, b)`; a bare expression is shown
  under the name `out`;
* an error never ends the session: it is printed with its source line,
  caret and hint; the statement that failed leaves no trace (names it bound
  are unbound again, in the interpreter and the checker alike) and the rest
  of its entry is skipped; an error while computing an example is printed
  and the statement is kept;
* each entry's text is registered in the workspace as `<repl:N>`, so errors
  about code written N entries ago still show that code;
* `exit`, `quit`, `exit()` or the end of input end the session.

`run_repl` drives a session from any iterable of lines (no prompts, for tests
and piped input); `start` is the terminal front end with history and line
editing through prompt_toolkit.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, TextIO

from rasp import ast, display, evaluate, graph, highlight
from rasp.errors import RaspError, RaspSyntaxError
from rasp.inputs import tokens_of
from rasp.interpreter import Builtin, Function, LoopBudget, SelectorValue
from rasp.parser import parse
from rasp.program import Workspace

PROMPT = ">> "
CONTINUATION = ".. "
HISTORY_NAME = ".rasp_history"  # in the home folder
DEFAULT_EXAMPLE = "hello"
SUBSETS = ("s-op", "selector")
# The parser's message when an entry stops early: the cue to read another line.
INCOMPLETE = "unexpected end of input"


class Repl:
    """One session: a workspace, a checker and an interpreter scope that persist across entries."""

    def __init__(self, out: TextIO, search_path: Sequence[str | Path] = ()):
        self.out = out
        self.workspace = Workspace(search_path)
        # `load "name";` looks beside the current directory first, then on the search path.
        here = Path.cwd()
        self.scope = self.workspace.new_scope()
        self.interpreter = self.workspace.interpreter(self.scope, here)
        self.checker = self.workspace.checker(here)
        self.examples = dict.fromkeys(SUBSETS, list(DEFAULT_EXAMPLE))
        self.show_examples = dict.fromkeys(SUBSETS, True)
        self.full_seq = False
        self.running = True
        self.entries = 0
        self._lines: list[str] = []

    def completions(self, prefix: str) -> list[str]:
        """The names an entry could continue `prefix` with, sorted: what the session and its
        library define, the built-in operations and input s-ops, keywords and REPL words."""
        names = {*self.scope.visible_names(), *highlight.KEYWORDS, *highlight.BUILTINS,
                 *highlight.INPUT_SOPS, *highlight.REPL_WORDS, *highlight.CONSTANTS}
        return sorted(name for name in names if name.startswith(prefix) and name != prefix)

    # ------------------------------------------------------------ reading

    @property
    def continuing(self) -> bool:
        """Whether the current entry is unfinished (the next line continues it)."""
        return bool(self._lines)

    def feed(self, line: str) -> None:
        """Add one line of input; run the entry once it is complete."""
        self._lines.append(line)
        self._complete(at_end=False)

    def discard(self) -> None:
        """Drop an unfinished entry (Ctrl-C)."""
        self._lines.clear()

    def finish(self) -> None:
        """The input ended: an unfinished entry is reported as the syntax error it is."""
        if self._lines:
            self._complete(at_end=True)

    def _complete(self, at_end: bool) -> None:
        text = "\n".join(self._lines)
        name = f"<repl:{self.entries + 1}>"
        try:
            module = parse(text, name)
        except RaspSyntaxError as error:
            if error.message == INCOMPLETE and not at_end:
                return
            self._finish_entry(text, name)
            self.report(error)
            return
        self._finish_entry(text, name)
        self.run_module(module, text)

    def _finish_entry(self, text: str, name: str) -> None:
        self._lines.clear()
        if text.strip():
            self.entries += 1
            self.workspace.sources[name] = text

    # ------------------------------------------------------------ running

    def load_files(self, paths: Iterable[str | Path], strict: bool = False) -> None:
        """Load files into the session: their public names become visible. A file that does
        not load is reported in the session, or raised when `strict` (the command line's
        files, whose mistakes are the command's)."""
        for path in paths:
            try:
                loaded = self.workspace.load_file(Path(path))
            except RaspError as error:
                if strict:
                    raise
                self.report(error)
                continue
            self.scope.variables.update(loaded.public_values())
            self.checker.scope.update(loaded.public_kinds())
            self.write(f"loaded {path}")
            for name, value in loaded.public_values().items():
                self.show(name, value, examples=False)

    def run_module(self, module: ast.Module, text: str) -> None:
        try:
            self.checker.check_module(module, source=text)
        except RaspError as error:
            self.report(error)
            return
        for statement in module.statements:
            if not self.running or not self._run_safely(statement):
                return

    def _run_safely(self, statement: Any) -> bool:
        """Run one statement; on error undo its bindings, report, and say False."""
        values, kinds = dict(self.scope.variables), dict(self.checker.scope)
        try:
            self.run_statement(statement)
            return True
        except RaspError as error:
            self.report(error)
        except KeyboardInterrupt:
            self.write("interrupted")
        except Exception as error:  # a bug must not cost the user their session
            self.write(f"internal error (please report it): {type(error).__name__}: {error}")
        # The checker already accepted the whole entry; forget what the failed part bound.
        for scope, snapshot in ((self.scope.variables, values), (self.checker.scope, kinds)):
            scope.clear()
            scope.update(snapshot)
        return False

    def run_statement(self, statement: Any) -> None:
        self.interpreter.budget = LoopBudget()   # each entry may loop as much as a file
        match statement:
            case ast.Exit():
                self.running = False
            case ast.SetExample(subset=subset, example=expr):
                tokens = tokens_of(self.interpreter.eval(expr), expr.span)
                for which in _subsets(subset):
                    self.examples[which] = tokens
            case ast.ShowExample(subset=subset):
                for which in _subsets(subset):
                    self.write(f"\t{which} example: {display.format_input(self.examples[which])}")
            case ast.ToggleExamples(subset=subset, on=on):
                for which in _subsets(subset):
                    self.show_examples[which] = on
            case ast.ToggleFullSeq(on=on):
                self.full_seq = on
            case ast.Draw():
                sop, example = self.interpreter.execute(statement)[0][1]
                self.draw(sop, self.examples["s-op"] if example is None else
                          tokens_of(example, statement.example.span))
            case ast.Load():
                before = dict(self.scope.variables)
                self.interpreter.execute(statement)
                for name, value in self.scope.variables.items():
                    if before.get(name) is not value:
                        self.show(name, value, examples=False)
            case _:
                for name, value in self.interpreter.execute(statement):
                    self.show(name, value)

    # ------------------------------------------------------------ showing

    def show(self, name: str, value: Any, examples: bool = True) -> None:
        """The original's display of a name bound to a value."""
        if isinstance(value, tuple):
            for item in value:
                self.show(name, item, examples)
        elif isinstance(value, graph.Selector):
            self.write(f"selector: {name}")
            if examples and self.show_examples["selector"]:
                self._show_selector_example(name, value)
        elif isinstance(value, graph.Sop):
            self.write(f"s-op: {name}")
            if examples and self.show_examples["s-op"]:
                self._show_sop_example(name, value)
        elif isinstance(value, (Function, Builtin)):
            self.write(display.format_value(value))
        elif isinstance(value, SelectorValue):
            self.write(f"value: {name} =")
            self.write(_indent(display.format_selector(value.matrix, value.input), "\t\t"))
        else:
            self.write(f"value: {name} = {display.format_value(value, self.full_seq)}")

    def _show_sop_example(self, name: str, sop: graph.Sop) -> None:
        tokens = self.examples["s-op"]
        call = f"{name}({display.format_input(tokens)})"
        result = self._evaluate(sop, tokens, call)
        if result is not None:
            self.write(f"\t Example: {call} = {display.format_sequence(result, self.full_seq)}")

    def _show_selector_example(self, name: str, selector: graph.Selector) -> None:
        tokens = self.examples["selector"]
        matrix = self._evaluate(selector, tokens, f"{name}({display.format_input(tokens)})")
        if matrix is not None:
            self.write("\t Example:")
            self.write(_indent(display.format_selector(matrix, tokens), "\t\t"))

    def _evaluate(self, node: graph.Node, tokens: list, call: str) -> Optional[list]:
        """The node's value on one input, or None after reporting why it has none."""
        try:
            return evaluate.run(node, [tokens])[0]
        except RaspError as error:
            self.write(f"\t Example: {call} cannot be computed:")
            self.write(_indent(self.workspace.attach_source(error).render(), "\t "))
            return None

    def draw(self, sop: graph.Sop, tokens: list) -> None:
        """The computation graph of `sop` as a text tree, valued on `tokens`."""
        arrays = evaluate.evaluate_nodes([sop], [tokens])
        values = {node_id: array[0].tolist() for node_id, array in arrays.items()}
        self.write(f"draw: {sop.name()} on {display.format_input(tokens)}")
        self.write(display.format_graph(sop, values, tokens, self.full_seq))

    def report(self, error: RaspError) -> None:
        self.write(self.workspace.attach_source(error).render())

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _subsets(subset: Optional[str]) -> tuple[str, ...]:
    return SUBSETS if subset is None else (subset,)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def run_repl(lines: Iterable[str], out: TextIO, files: Sequence[str | Path] = (),
             search_path: Sequence[str | Path] = (), strict: bool = False) -> Repl:
    """Run a session on the given lines (no prompts); returns the finished session. `strict`:
    a file that does not load raises its `RaspError` instead of being reported."""
    repl = Repl(out, search_path)
    repl.load_files(files, strict)
    for line in lines:
        repl.feed(line.rstrip("\r\n"))
        if not repl.running:
            return repl
    repl.finish()
    return repl


def start(files: Sequence[str | Path] = (), search_path: Sequence[str | Path] = ()) -> None:
    """`rasp repl`: interactive with history when on a terminal, else reading stdin. A file
    that does not load raises its `RaspError` before the session starts."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        run_repl(sys.stdin, sys.stdout, files, search_path, strict=True)
        return
    # Imported here: only the terminal front end needs prompt_toolkit.
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.lexers import PygmentsLexer

    home = Path.home()
    # Without a writable home the session still works, only without saved history.
    history: History = (FileHistory(str(home / HISTORY_NAME)) if os.access(home, os.W_OK)
                        else InMemoryHistory())
    repl = Repl(sys.stdout, search_path)
    session: PromptSession = PromptSession(history=history,
                                           lexer=PygmentsLexer(highlight.RaspLexer),
                                           completer=name_completer(repl),
                                           complete_while_typing=False)   # Tab completes
    repl.write(f"RASP  (running example: \"{DEFAULT_EXAMPLE}\"; `exit` or Ctrl-D to leave)")
    repl.load_files(files, strict=True)
    while repl.running:
        try:
            line = session.prompt(CONTINUATION if repl.continuing else PROMPT)
        except KeyboardInterrupt:
            repl.discard()
            continue
        except EOFError:
            repl.finish()
            return
        try:
            repl.feed(line)
        except KeyboardInterrupt:  # while checking; a running statement handles its own
            repl.discard()
            repl.write("interrupted")


def name_completer(repl: Repl) -> Any:
    """A prompt_toolkit completer of the word before the cursor from `repl.completions`."""
    from prompt_toolkit.completion import Completer, Completion

    class _Names(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            match = _WORD.search(document.text_before_cursor)
            word = match.group() if match else ""
            if word:
                for name in repl.completions(word):
                    yield Completion(name, start_position=-len(word))

    return _Names()


_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")
