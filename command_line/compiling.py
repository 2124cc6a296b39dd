"""`rasp compile`, `rasp check` and `rasp inspect`: the compiler at the command line.

Each function prints its report and returns the exit code; `main.py` wires
them to the command line and turns `RaspError`s into one located line.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Optional

import compiler
import rasp
from compiler import lens
from compiler.verify import Difference, compare
from rasp import limits
from rasp.files import hypothesis_scratch, output_folder, writing_atomically
from rasp.graph import Sop
from rasp.inputs import parse_input

# `--exhaustive` refuses to enumerate more inputs than this.
EXHAUSTIVE_LIMIT = 2_000_000


def parse_vocab(text: str) -> list:
    """`"abc"` (characters) or `[1, 2, 3]` (tokens), as on the command line."""
    return parse_input(text, origin="--vocab")


def length_limit(large: bool) -> int:
    """The largest --max-len accepted, with or without --large."""
    return limits.MAX_LARGE_COMPILE_LENGTH if large else limits.MAX_COMPILE_LENGTH


EXPORT_FORMATS = ("rasp", "lens")


def compile_command(file: Path, sop: str, vocab: str, max_len: int, causal: bool,
                    out: Optional[Path], large: bool, search_path: list[Path],
                    export_format: str = "rasp", dtype: str = "float32",
                    dry_run: bool = False) -> int:
    if export_format not in EXPORT_FORMATS:
        raise rasp.RaspValueError(f"--format {export_format}: unknown export format",
                                  hint=f"choose {' or '.join(EXPORT_FORMATS)}")
    if dtype not in compiler.export.DTYPES:
        raise rasp.RaspValueError(f"--dtype {dtype}: cannot save weights as {dtype}",
                                  hint=f"choose {' or '.join(compiler.export.DTYPES)}")
    if dry_run and out is not None:
        raise rasp.RaspValueError("--dry-run writes no weights, so it takes no --out",
                                  hint="leave out one of --dry-run and --out")
    if export_format == "lens":
        lens._library()   # torch and TransformerLens installed, before any work
    if out is not None:
        output_folder(out)
    program = rasp.load(file, search_path=search_path)
    if dry_run:
        size = compiler.compiled_size(program, sop, parse_vocab(vocab), max_len, causal=causal,
                                      length_limit=length_limit(large))
        print(size_summary(size))
        return 0
    model = compiler.compile(program, sop, parse_vocab(vocab), max_len, causal=causal,
                             length_limit=length_limit(large))
    print(summary(model))
    print(f"exactness check: equal to the interpreter on all {model.verified_inputs:,} "
          f"sampled inputs (every short input and random ones up to length {max_len})")
    if out is not None:
        compiler.save_model(model, out, dtype)
        print(f"saved to {out}/ (weights as {dtype} safetensors, manifest.json)")
        if export_format == "lens":
            lens.save_lens(model, out)
            print(f"TransformerLens model: {out}/{lens.CONFIG_FILE} and {lens.WEIGHTS_FILE}; "
                  f"load it with compiler.load_lens({str(out)!r})")
    return 0


def size_summary(size: compiler.ModelSize) -> str:
    return "\n".join([
        f"layers:          {size.layers}",
        f"heads per layer: {size.heads_per_layer}",
        f"residual width:  {size.residual_width}",
        f"key size:        {size.key_size}",
        f"MLP hidden size: {size.mlp_hidden_size}",
        f"parameters:      {size.parameters:,} as blocks "
        f"({size.dense_parameters:,} in tracr's dense layout)",
        "(dry run: the size compile would give; no weights written, nothing checked)"])


def summary(model: compiler.CompiledModel) -> str:
    lines = [
        f"s-op:            {model.sop}",
        f"vocabulary:      {model.vocab}",
        f"max length:      {model.max_seq_len}" + ("  (causal)" if model.causal else ""),
        f"layers:          {model.num_layers}",
        f"heads per layer: {model.heads_per_layer()}",
        f"residual width:  {model.residual_width}",
        f"parameters:      {model.parameter_count():,} as blocks "
        f"({model.dense_parameter_count():,} in tracr's dense layout)",
        f"output:          {model.output_encoding}",
        f"compile time:    {model.compile_seconds:.2f} s",
        "layout:",
    ]
    lines += ["  " + line for line in model.layout.describe(model.num_layers)]
    return "\n".join(lines)


def check_command(file: Path, sop: str, vocab: str, max_len: int, exhaustive: bool,
                  examples: int, large: bool, search_path: list[Path]) -> int:
    program = rasp.load(file, search_path=search_path)
    tokens = parse_vocab(vocab)
    model = compiler.compile(program, sop, tokens, max_len, verify=False,
                             length_limit=length_limit(large))
    node = program.sop(sop)
    started = time.perf_counter()
    if exhaustive:
        difference, checked = _exhaustive(node, model, tokens, max_len)
    else:
        difference, checked = _search(node, model, tokens, max_len, examples)
    elapsed = time.perf_counter() - started
    if difference is None:
        how = "every input" if exhaustive else "Hypothesis-generated inputs"
        print(f"equal: compiled model and interpreter agree on {checked:,} inputs ({how} of "
              f"length 1..{max_len}, {elapsed:.1f} s)")
        return 0
    print(f"DIFFERENT on input {difference.input!r}:\n  interpreter: {difference.interpreter}"
          f"\n  model:       {difference.model}")
    return 1


def _exhaustive(node: Sop, model: compiler.CompiledModel, tokens: list,
                max_len: int) -> tuple[Difference | None, int]:
    """The first difference over every input up to `max_len` tokens, and how many there are."""
    total = sum(len(tokens) ** n for n in range(1, max_len + 1))
    if total > EXHAUSTIVE_LIMIT:
        raise rasp.RaspValueError(
            f"--exhaustive would check {total:,} inputs (more than {EXHAUSTIVE_LIMIT:,})",
            hint="use a smaller --vocab or --max-len, or drop --exhaustive")
    for length in range(1, max_len + 1):
        for batch in _batches(itertools.product(tokens, repeat=length), 4096):
            difference = compare(model, node, batch)
            if difference is not None:
                return difference, total
    return None, total


def _batches(iterable, size):
    iterator = iter(iterable)
    while batch := [list(x) for x in itertools.islice(iterator, size)]:
        yield batch


def _search(node: Sop, model: compiler.CompiledModel, tokens: list, max_len: int,
            examples: int) -> tuple[Difference | None, int]:
    """A difference found by Hypothesis and shrunk to a minimal input, or None."""
    from hypothesis import HealthCheck, find, settings, strategies as st
    from hypothesis.errors import NoSuchExample

    inputs = st.lists(st.sampled_from(tokens), min_size=1, max_size=max_len)
    try:
        with hypothesis_scratch():   # no .hypothesis/ left in the user's folder
            found = find(inputs, lambda candidate: compare(model, node, [candidate]) is not None,
                         settings=settings(max_examples=examples, database=None, deadline=None,
                                           suppress_health_check=list(HealthCheck)))
    except NoSuchExample:
        return None, examples
    return compare(model, node, [found]), examples


def inspect_command(file: Path, sop: str, vocab: str, max_len: int, causal: bool,
                    input_text: Optional[str], out: Optional[Path], large: bool,
                    search_path: list[Path]) -> int:
    folder = out or Path(f"{sop}_attention")
    tokens = None if input_text is None else parse_input(input_text, origin="--input")
    if tokens is not None:
        output_folder(folder)
    program = rasp.load(file, search_path=search_path)
    model = compiler.compile(program, sop, parse_vocab(vocab), max_len, causal=causal,
                             length_limit=length_limit(large))
    print(summary(model))
    if tokens is None:
        return 0
    paths = save_attention_heatmaps(model, tokens, folder)
    print(f"attention on {tokens!r}: {len(paths)} heatmaps in {folder}/")
    return 0


def save_attention_heatmaps(model: compiler.CompiledModel, tokens: list,
                            folder: Path) -> list[Path]:
    """One PNG per attention head that computes something, for one input."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    labels = ["BOS"] + [str(t) for t in tokens]
    paths = []
    for layer, pattern in enumerate(model.attention(tokens)):
        for head in (h for h in model.layout.heads if h.layer == layer):
            figure, axes = plt.subplots(figsize=(1 + 0.45 * len(labels),) * 2)
            axes.imshow(pattern[head.head], vmin=0, vmax=1, cmap="Blues")
            axes.set_xticks(range(len(labels)), labels)
            axes.set_yticks(range(len(labels)), labels)
            axes.set_xlabel("key")
            axes.set_ylabel("query")
            axes.set_title(f"layer {layer} head {head.head}\n{head.computes}"[:80], fontsize=8)
            figure.tight_layout()
            path = folder / f"layer{layer}_head{head.head}.png"
            with writing_atomically(path) as file:
                figure.savefig(file, format="png", dpi=100)
            plt.close(figure)
            paths.append(path)
    return paths
