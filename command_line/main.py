"""The `rasp` command.

    rasp run FILE --sop NAME [INPUT ...] [--inputs FILE.jsonl] [--json] [-I DIR ...]
    rasp repl [FILE ...] [-I DIR ...]

Guarantees: every mistake a user can make (a missing or unreadable file, a
syntax or type error in the program, an unknown s-op, a malformed input, a
run-time error) is reported as ONE located line on stderr, `file:line:col:
message (hint: ...)`, and the exit code is 2; typer's own usage errors exit
with 2 as well. No Python traceback is shown for them.

Each subcommand is one function below; the ones still to come (`compile`,
`check`, `inspect`, `generalize`) get their own the same way, wrapping their
work in `_user_errors()`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from rasp import display, repl
from rasp.ast import NO_SPAN, Span
from rasp.errors import RaspError
from rasp.inputs import parse_input, read_jsonl_inputs
from rasp.program import Program, load

USAGE_ERROR = 2

app = typer.Typer(
    name="rasp",
    help="RASP (Weiss, Goldberg & Yahav 2021): run programs, or explore them in a REPL.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

SearchPath = Annotated[
    Optional[list[Path]],
    typer.Option("--search-path", "-I", metavar="DIR",
                 help="Folder where `load \"name\";` looks (after the loading file's folder)."),
]


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a RaspError into one located line on stderr and exit code 2."""
    try:
        yield
    except RaspError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(USAGE_ERROR) from None


def _evaluate(program: Program, file: Path, sop: str, inputs: list[list]) -> list[list]:
    """All outputs in one batch; a run-time error with no place of its own (the
    input s-ops are primitives, written nowhere) is placed in the program file."""
    try:
        return program.run(sop, inputs)
    except RaspError as error:
        if error.span is NO_SPAN:
            error.span = Span(str(file), 0, 0, 0, 0)
        raise


@app.command()
def run(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The RASP program.",
                                           show_default=False)],
    sop: Annotated[str, typer.Option("--sop", help="The s-op to evaluate.", show_default=False)],
    inputs: Annotated[Optional[list[str]], typer.Argument(
        metavar="INPUT",
        help='Inputs as RASP literals: "hello" (its characters) or [3, 1, 4].')] = None,
    inputs_file: Annotated[Optional[Path], typer.Option(
        "--inputs", metavar="FILE.jsonl",
        help='More inputs, one per line: "hello", [3, 1, 4] or {"input": ...}.')] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='One {"input": [...], "output": [...]} object per line.')] = False,
    search_path: SearchPath = None,
) -> None:
    """Evaluate an s-op of FILE on every input (in one batch) and print the outputs."""
    with _user_errors():
        if not inputs and inputs_file is None:
            raise RaspError("no inputs: give INPUT arguments or --inputs FILE.jsonl",
                            hint=f"rasp run {file} --sop {sop} '\"hello\"' '[3, 1, 4]'")
        program = load(file, search_path or ())
        program.sop(sop)  # an unknown s-op is reported before any input is looked at
        tokens = [parse_input(text, f"INPUT {i}") for i, text in enumerate(inputs or [], 1)]
        if inputs_file is not None:
            tokens += read_jsonl_inputs(inputs_file)
        outputs = _evaluate(program, file, sop, tokens)
    for given, output in zip(tokens, outputs):
        if as_json:
            typer.echo(json.dumps({"input": given, "output": output}))
        else:
            typer.echo(f"{sop}({display.format_input(given)}) = "
                       f"{display.format_sequence(output, full=True, suffix=False)}")


@app.command("repl")
def repl_command(
    files: Annotated[Optional[list[Path]], typer.Argument(
        metavar="FILE", help="Programs to load into the session first.")] = None,
    search_path: SearchPath = None,
) -> None:
    """An interactive session, like the original RASP REPL (`exit` or Ctrl-D to leave)."""
    repl.start(files or (), search_path or ())


def main() -> None:
    """Entry point of the `rasp` console script."""
    app()


if __name__ == "__main__":
    main()
