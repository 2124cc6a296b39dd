"""The `rasp` command.

    rasp run FILE --sop NAME [INPUT ...] [--inputs FILE.jsonl] [--json] [-I DIR ...]
    rasp repl [FILE ...] [-I DIR ...]
    rasp compile FILE --sop NAME --vocab V --max-len N [--causal] [-o DIR]
    rasp check FILE --sop NAME --vocab V --max-len N [--exhaustive] [--examples K]
    rasp inspect FILE --sop NAME --vocab V --max-len N [--input INPUT] [-o DIR]
    rasp generalize CONFIG.toml [-o RUN_DIR]
    rasp generalize FILE.rasp --sop NAME --vocab V --train-len 1-10 --test-len 11-20 [...]
    rasp report RUN_DIR
    rasp sweep SWEEP.toml [-o OUT] [--workers N] [--ray ADDRESS]

Guarantees: every mistake a user can make (a missing or unreadable file, a
syntax or type error in the program, an unknown s-op, a malformed input, a
run-time error) is reported as ONE located line on stderr, `file:line:col:
message (hint: ...)`, and the exit code is 2; typer's own usage errors exit
with 2 as well. No Python traceback is shown for them. `rasp check` exits with
1 when it finds an input on which the compiled model and the interpreter differ.

Each subcommand is one function below wrapping its work in `_user_errors()`;
the compiler's commands do their work in `compiling.py`, the harness's in
`generalizing.py`. Those are imported by the commands that need them, so that
`rasp run` and `rasp repl` start without loading JAX and tracr.
"""

from __future__ import annotations

import contextlib
import json
from importlib import metadata
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from rasp import display, limits, repl
from rasp.ast import NO_SPAN, Span
from rasp.errors import RaspError
from rasp.files import output_folder
from rasp.inputs import parse_input, read_jsonl_inputs
from rasp.program import Program, load

USAGE_ERROR = 2

app = typer.Typer(
    name="rasp",
    help="RASP (Weiss, Goldberg & Yahav 2021): run programs, explore them in a REPL, "
         "compile them to transformer weights, "
         "test whether learned transformers length-generalize.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)



def _print_version(asked: bool) -> None:
    if asked:
        try:
            version = metadata.version("rasp-testbed")
        except metadata.PackageNotFoundError:   # run from a checkout that is not installed
            version = "not installed"
        typer.echo(f"rasp (rasp-testbed) {version}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """RASP (Weiss, Goldberg & Yahav 2021): run programs, explore them in a REPL, compile
    them to transformer weights, test whether learned transformers length-generalize."""


Sets = Annotated[
    Optional[list[str]],
    typer.Option("--set", metavar="SECTION.KEY=VALUE",
                 help="Change a setting of the config (repeat for several), checked as in the "
                      "file: --set training.steps=200 --set model.positions='[\"rope\"]'."),
]
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


def _evaluate(program: Program, file: Path, sop: str, inputs: list[list],
              max_length: int) -> list[list]:
    """All outputs in one batch; a run-time error with no place of its own (the
    input s-ops are primitives, written nowhere) is placed in the program file."""
    try:
        return program.run(sop, inputs, max_length)
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
    max_input_len: Annotated[int, typer.Option(
        "--max-input-len", metavar="N", min=1,
        help="The most tokens an input may have; the interpreter's memory grows with its "
             "square.")] = limits.MAX_INPUT_LENGTH,
    search_path: SearchPath = None,
) -> None:
    """Evaluate an s-op of FILE on every input (in one batch) and print the outputs."""
    with _user_errors():
        if not inputs and inputs_file is None:
            raise RaspError("no inputs: give INPUT arguments or --inputs FILE.jsonl",
                            hint=f"rasp run {file} --sop {sop} '\"hello\"' '[3, 1, 4]'")
        program = load(file, search_path or ())
        program.sop(sop)  # an unknown s-op is reported before any input is looked at
        tokens = [parse_input(text, f"INPUT {i}", max_input_len)
                  for i, text in enumerate(inputs or [], 1)]
        if inputs_file is not None:
            tokens += read_jsonl_inputs(inputs_file, max_input_len)
        outputs = _evaluate(program, file, sop, tokens, max_input_len)
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
    with _user_errors():   # a file given here that does not load ends the command
        repl.start(files or (), search_path or ())


File = Annotated[Path, typer.Argument(metavar="FILE", help="The RASP program.",
                                      show_default=False)]
SopName = Annotated[str, typer.Option("--sop", help="The s-op to compile.", show_default=False)]
Vocab = Annotated[str, typer.Option(
    "--vocab", metavar="V", help='The input vocabulary as a RASP literal: "abc" or [1, 2, 3].',
    show_default=False)]
MaxLen = Annotated[int, typer.Option(
    "--max-len", metavar="N", min=1,
    help=f"The longest input the model takes (at most {limits.MAX_COMPILE_LENGTH} without "
         f"--large).", show_default=False)]
Large = Annotated[bool, typer.Option(
    "--large", help=f"Allow --max-len up to {limits.MAX_LARGE_COMPILE_LENGTH}; time and memory "
                    f"grow faster than the length.")]
Causal = Annotated[bool, typer.Option(
    "--causal", help="Compile a causal model; refused if the program reads later positions.")]


@app.command("compile")
def compile_command(file: File, sop: SopName, vocab: Vocab, max_len: MaxLen,
                    causal: Causal = False,
                    out: Annotated[Optional[Path], typer.Option(
                        "--out", "-o", metavar="DIR",
                        help="Save the weights (safetensors) and a JSON manifest here.")]
                    = None,
                    export_format: Annotated[str, typer.Option(
                        "--format", metavar="FORMAT",
                        help="rasp (the weights and manifest), or lens: also a TransformerLens "
                             "HookedTransformer (needs the `lens` extra).")] = "rasp",
                    dtype: Annotated[str, typer.Option(
                        "--dtype", help="float32 or float64, for the saved weights.")]
                    = "float32",
                    dry_run: Annotated[bool, typer.Option(
                        "--dry-run", help="Print the model's size (layers, heads, residual "
                                          "width, parameters) without building its weights.")]
                    = False,
                    large: Large = False, search_path: SearchPath = None) -> None:
    """Compile an s-op to transformer weights (through tracr), check it, print a summary."""
    from command_line import compiling

    with _user_errors():
        code = compiling.compile_command(file, sop, vocab, max_len, causal, out, large,
                                         search_path or [], export_format, dtype, dry_run)
    raise typer.Exit(code)


@app.command()
def check(file: File, sop: SopName, vocab: Vocab, max_len: MaxLen,
          exhaustive: Annotated[bool, typer.Option(
              "--exhaustive", help="Check every input up to --max-len instead of searching.")]
          = False,
          examples: Annotated[int, typer.Option(
              "--examples", min=1, help="How many inputs Hypothesis tries.")] = 1000,
          large: Large = False, search_path: SearchPath = None) -> None:
    """Compare the compiled model with the interpreter; exit 1 with a minimal counterexample."""
    from command_line import compiling

    with _user_errors():
        code = compiling.check_command(file, sop, vocab, max_len, exhaustive, examples, large,
                                       search_path or [])
    raise typer.Exit(code)


@app.command()
def inspect(file: File, sop: SopName, vocab: Vocab, max_len: MaxLen,
            causal: Causal = False,
            input_text: Annotated[Optional[str], typer.Option(
                "--input", metavar="INPUT",
                help="Draw each head's attention on this input (a RASP literal).")] = None,
            out: Annotated[Optional[Path], typer.Option(
                "--out", "-o", metavar="DIR",
                help="Folder for the heatmaps (default: SOP_attention).")] = None,
            large: Large = False, search_path: SearchPath = None) -> None:
    """Show which s-op each layer and head computes, and attention heatmaps on one input."""
    from command_line import compiling

    with _user_errors():
        code = compiling.inspect_command(file, sop, vocab, max_len, causal, input_text, out,
                                         large, search_path or [])
    raise typer.Exit(code)


@app.command()
def generalize(
    target: Annotated[Path, typer.Argument(
        metavar="CONFIG.toml|FILE.rasp",
        help="An experiment config, or a program for the quick form.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", metavar="RUN_DIR", help="Where results go (default: runs/NAME).")] = None,
    sop: Annotated[Optional[str], typer.Option("--sop", help="Quick form: the s-op.")] = None,
    vocab: Annotated[Optional[str], typer.Option(
        "--vocab", metavar="V", help='Quick form: the vocabulary, "abc" or [1, 2, 3].')] = None,
    train_len: Annotated[Optional[str], typer.Option(
        "--train-len", metavar="LO-HI", help="Quick form: training lengths, e.g. 1-10.")] = None,
    test_len: Annotated[Optional[str], typer.Option(
        "--test-len", metavar="LO-HI", help="Quick form: test lengths, e.g. 11-20.")] = None,
    positions: Annotated[Optional[list[str]], typer.Option(
        "--positions", help="Quick form: a positional encoding (repeat for several).")] = None,
    seeds: Annotated[Optional[int], typer.Option(
        "--seeds", min=1, help="Quick form: train seeds 0..N-1.")] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", min=1, help="Quick form: training steps.")] = None,
    sets: Sets = None,
) -> None:
    """Train transformers on short inputs labelled by a program; test them on longer ones."""
    overrides = {key: value for key, value in (
        ("positions", positions), ("seeds", list(range(seeds)) if seeds else None),
        ("steps", steps)) if value}
    from command_line import generalizing

    with _user_errors():
        code = generalizing.generalize_command(target, out, sop, vocab, train_len, test_len,
                                               overrides, sets or [])
    raise typer.Exit(code)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(
        metavar="RUN_DIR", help="A run directory holding results.json, or a sweep's output "
                                "folder holding sweep.json.", show_default=False)]
           ) -> None:
    """Rebuild a run's report.md, report.html and plots from its results.json, or a sweep's
    study page (study.md, study.html) from its sweep.json and runs."""
    from command_line import generalizing

    with _user_errors():
        code = generalizing.report_command(run_dir)
    raise typer.Exit(code)


@app.command()
def curves(run_dirs: Annotated[list[Path], typer.Argument(
        metavar="RUN_DIR...", help="Run directories holding results.json.",
        show_default=False)],
           out: Annotated[Path, typer.Option(
               "--out", "-o", metavar="FILE.png", help="Where the plot goes.")] = Path(
               "curves.png")) -> None:
    """Plot several runs' learning curves against training samples seen, e.g. a run started
    from another run's weights ([training] init_from) beside one started from scratch."""
    from command_line import generalizing

    with _user_errors():
        code = generalizing.curves_command(run_dirs, out)
    raise typer.Exit(code)


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(
        metavar="SWEEP.toml", help="Experiments crossed with a grid of settings.",
        show_default=False)],
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", metavar="OUT", help="Where the runs go (default: runs/NAME).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, help="Runs in parallel (default: half the CPU cores; with "
                                 "--ray, as many as the cluster has CPUs).")] = None,
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray", metavar="ADDRESS",
        help="Run on the Ray cluster at this address (the `ray` extra; its nodes must "
             "see OUT).")] = None,
    sets: Sets = None,
) -> None:
    """Run every experiment of a sweep on a local process pool or a Ray cluster; a rerun skips
    finished runs."""
    from generalization.config import load_sweep
    from generalization.sweep import run_sweep

    with _user_errors():
        # run_sweep checks the folder before any run, once connected to Ray when asked to.
        out = out or Path("runs") / load_sweep(sweep_file, sets or []).name
        summary = run_sweep(sweep_file, out, workers=workers, ray_address=ray_address,
                            sets=sets or [],
                            log=lambda line: typer.echo(line, err=True))
    typer.echo(f"sweep: {out / 'sweep.json'}")
    raise typer.Exit(0 if all(run.status != "failed" for run in summary.runs.values()) else 1)


def main() -> None:
    """Entry point of the `rasp` console script."""
    app()


if __name__ == "__main__":
    main()
