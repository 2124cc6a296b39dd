"""The task suite of the conjecture study: `examples/suite/*.rasp` and `*.toml`.

* (tests/test_examples.py checks the `# example:` lines of the suite programs;)
* every suite config loads, and every program is the program of some config;
* every s-op with an example line is covered below (`SOPS`), and for each one, on every input
  over a tiny vocabulary up to a small length:
  - the interpreter computes what the header says (a plain-Python reference), and
  - the compiled model (causal where the s-op is causal) equals the interpreter;
* a causal s-op compiles in causal mode and a non-causal one is refused, as the headers say;
* the next-token programs generate their sequences: count_next continues "a b |" with a..b $,
  copy_unique and copy_repeat continue "x|" with x $ (and agree on distinct tokens), also on
  the prompts their autoregressive configs draw at every length;
* both additions agree with Python's integers on inputs of the `addition` sampler.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import compiler
import rasp
from compiler.verify import outputs_equal
from compiler.errors import CompileError
from generalization.config import load_config
from generalization.tasks import TaskData, continue_prompts
from test_examples import example_lines

SUITE = Path(__file__).resolve().parent.parent / "examples" / "suite"
NUMBERS = [str(n) for n in range(32)]


def _programs() -> list[Path]:
    return sorted(SUITE.glob("*.rasp"))


def _configs() -> list[Path]:
    return sorted(SUITE.glob("*.toml"))


_loaded: dict[Path, rasp.Program] = {}


def _program(path: Path) -> rasp.Program:
    if path not in _loaded:
        _loaded[path] = rasp.load(path)
    return _loaded[path]


# ------------------------------------------------------------------------- references
# What each header promises, in plain Python, one input at a time.


def _value(token: str) -> int:
    return int(token) if token in NUMBERS else -1


def ref_count_next(x: list) -> list:
    out = []
    for i, t in enumerate(x):
        if i < 2:
            out.append("-")
        elif t == "|":
            out.append(x[0])
        elif t in NUMBERS and _value(t) < _value(x[1]):
            out.append(str(int(t) + 1))
        else:
            out.append("$")
    return out


def ref_mode(x: list) -> list:
    counts = Counter(x)
    top = max(counts.values())
    return [next(t for t in x if counts[t] == top)] * len(x)


def ref_prefix_mode(x: list) -> list:
    counts: Counter = Counter()
    top, leader, out = 0, None, []
    for t in x:
        counts[t] += 1
        if counts[t] > top:  # reaching the top count first wins ties
            top, leader = counts[t], t
        out.append(leader)
    return out


def _majority_of(x: list) -> str:
    token, count = Counter(x).most_common(1)[0]
    return token if 2 * count > len(x) else "-"


def ref_majority(x: list) -> list:
    return [_majority_of(x)] * len(x)


def ref_prefix_majority(x: list) -> list:
    return [_majority_of(x[:i + 1]) for i in range(len(x))]


def ref_copy_unique(x: list) -> list:
    out = []
    for i, t in enumerate(x):
        first = x.index(t)
        read = x[0] if t == "|" else ("-" if first == i else x[first + 1])
        out.append("$" if t == "$" or read == "|" else read)
    return out


def ref_copy_repeat(x: list) -> list:
    sep = x.index("|") if "|" in x else len(x)
    return ["-" if i < sep else (x[i - sep] if i - sep < sep else "$") for i in range(len(x))]


def ref_sort(x: list) -> list:
    return sorted(x)


def ref_reverse(x: list) -> list:
    return x[::-1]


def ref_hist(x: list) -> list:
    return [x.count(t) for t in x]


def ref_parity(x: list) -> list:
    return [x[:i + 1].count("1") % 2 for i in range(len(x))]


def ref_dyck1(x: list) -> list:
    balance, broken, out = 0, False, []
    for t in x:
        balance += {"(": 1, ")": -1}.get(t, 0)
        broken = broken or balance < 0
        out.append("F" if broken else ("T" if balance == 0 else "P"))
    return out


def ref_most_freq(x: list) -> list:
    counts = Counter(x)
    distinct = sorted(dict.fromkeys(x), key=lambda t: (-counts[t], x.index(t)))
    return distinct + ["-"] * (len(x) - len(distinct))


def _operands(x: list) -> tuple[str, str]:
    """a and b as digit strings: split at the first "+", other "+" read as 0, no "+": a = ""."""
    sep = x.index("+") if "+" in x else -1
    digits = ["0" if t == "+" else t for t in x]
    return "".join(digits[:max(sep, 0)]), "".join(digits[sep + 1:])


def ref_add_forward(x: list) -> list:
    a, b = _operands(x)
    total = str(int(a or "0") + int(b or "0"))
    return [0] * (len(x) - len(total)) + [int(d) for d in total]


def ref_add_reversed(x: list) -> list:
    a, b = _operands(x)
    total = str(int(a[::-1] or "0") + int(b[::-1] or "0"))[::-1]
    return [int(d) for d in total] + [0] * (len(x) - len(total))


# file, s-op, reference, tiny vocabulary, longest input, causal (compiles in causal mode)
SOPS = [
    ("count.rasp", "count_next", ref_count_next, ["0", "1", "2", "|", "$"], 6, True),
    ("mode.rasp", "mode", ref_mode, ["a", "b", "c"], 6, False),
    ("mode.rasp", "prefix_mode", ref_prefix_mode, ["a", "b", "c"], 6, True),
    ("majority.rasp", "majority", ref_majority, ["a", "b", "c"], 6, False),
    ("majority.rasp", "prefix_majority", ref_prefix_majority, ["a", "b", "c"], 6, True),
    ("copy_unique.rasp", "copy_unique", ref_copy_unique, ["a", "b", "|", "$"], 6, True),
    ("copy_repeat.rasp", "copy_repeat", ref_copy_repeat, ["a", "b", "|", "$"], 6, True),
    ("sort.rasp", "sort_tokens", ref_sort, ["a", "b", "c"], 6, False),
    ("reverse.rasp", "reverse", ref_reverse, ["a", "b", "c"], 6, False),
    ("histogram.rasp", "hist", ref_hist, ["a", "b", "c"], 6, False),
    ("parity.rasp", "parity", ref_parity, ["0", "1"], 8, True),
    ("dyck1.rasp", "dyck1", ref_dyck1, ["(", ")"], 8, True),
    ("most_freq.rasp", "most_freq", ref_most_freq, ["a", "b", "c"], 6, False),
    ("addition.rasp", "add_forward", ref_add_forward, ["0", "1", "9", "+"], 6, False),
    ("addition.rasp", "add_reversed", ref_add_reversed, ["0", "1", "9", "+"], 6, False),
]
SOP_IDS = [sop for _, sop, *_ in SOPS]


def _every_input(vocab: list, longest: int) -> list[list]:
    return [list(t) for n in range(1, longest + 1) for t in itertools.product(vocab, repeat=n)]


# -------------------------------------------------------------------------------- tests


def test_suite_is_there():
    assert len(_programs()) >= 12 and len(_configs()) >= 12
    for path in _programs():
        assert example_lines(path), f"{path.name} has no `# example:` line"


@pytest.mark.parametrize("path", _configs(), ids=lambda p: p.name)
def test_config_loads(path):
    config = load_config(path)
    assert config.name == path.stem
    assert config.task.program.parent == SUITE
    assert (config.task.program.name, config.task.sop) in {(f, s) for f, s, *_ in SOPS}
    assert config.task.test_lengths[1] >= 2 * config.task.train_lengths[1]
    assert len(config.training.seeds) == 3
    causal = {(f, s): c for f, s, *_, c in SOPS}[config.task.program.name, config.task.sop]
    assert not config.task.causal or causal, "a causal config needs a causal program"


def test_every_program_and_sop_is_covered():
    covered = {(f, s) for f, s, *_ in SOPS}
    configured = {(load_config(p).task.program.name, load_config(p).task.sop) for p in _configs()}
    for path in _programs():
        for sop, *_ in example_lines(path):
            assert (path.name, sop) in covered, f"{path.name}: `{sop}` is not in SOPS"
        assert any(f == path.name for f, _ in configured), f"no config runs {path.name}"


@pytest.mark.parametrize("filename,sop,reference,vocab,longest,causal", SOPS, ids=SOP_IDS)
def test_interpreter_matches_reference(filename, sop, reference, vocab, longest, causal):
    inputs = _every_input(vocab, longest)
    outputs = _program(SUITE / filename).run(sop, inputs)
    for x, got in zip(inputs, outputs):
        want = reference(x)
        assert outputs_equal(want, list(got)), f"{sop}({x}) = {list(got)}, expected {want}"


@pytest.mark.parametrize("filename,sop,reference,vocab,longest,causal", SOPS, ids=SOP_IDS)
def test_compiled_equals_interpreter(filename, sop, reference, vocab, longest, causal):
    """Compiled at a small length (causal where the s-op is), on every input up to it."""
    program = _program(SUITE / filename)
    model = compiler.compile(program, sop, vocab, longest, causal=causal, verify=False)
    inputs = _every_input(vocab, longest)
    expected = program.run(sop, inputs)
    actual = model.run(inputs)
    for x, want, got in zip(inputs, expected, actual):
        assert outputs_equal(list(want), list(got)), \
            f"{sop}({x}): interpreter {list(want)}, compiled {list(got)}"


@pytest.mark.parametrize("filename,sop", [(f, s) for f, s, *_, c in SOPS if not c],
                         ids=[s for _, s, *_, c in SOPS if not c])
def test_non_causal_sops_are_refused_causally(filename, sop):
    vocab, longest = next((v, n) for f, s, _, v, n, _ in SOPS if s == sop)
    with pytest.raises(CompileError, match="not causal|cannot be computed causally"):
        compiler.compile(_program(SUITE / filename), sop, vocab, 4, causal=True, verify=False)


def _generate(program: rasp.Program, sop: str, prompt: list, limit: int = 40) -> list:
    """The harness's greedy continuation: the output at the last position until "$"."""
    run = lambda _, rows: program.run(sop, rows)  # noqa: E731
    vocab = [*NUMBERS, *"abcdefgh", "|", "$"]
    return list(prompt) + continue_prompts(run, [prompt], "$", [limit - len(prompt)], vocab)[0]


def test_count_next_generates_the_count():
    program = _program(SUITE / "count.rasp")
    for a, b in [(3, 7), (0, 0), (5, 15), (12, 31), (9, 2)]:
        got = _generate(program, "count_next", [str(a), str(b), "|"])
        want = [str(a), str(b), "|"] + [str(n) for n in range(a, max(a, b) + 1)] + ["$"]
        assert got == want


def test_copies_generate_the_copy():
    unique = _program(SUITE / "copy_unique.rasp")
    repeat = _program(SUITE / "copy_repeat.rasp")
    rng = random.Random(0)
    for n in range(1, 9):
        x = rng.sample("abcdefgh", n)
        sequence = x + ["|"] + x + ["$"]
        assert _generate(unique, "copy_unique", x + ["|"]) == sequence
        assert _generate(repeat, "copy_repeat", x + ["|"]) == sequence
        # teacher forcing: same next-token targets on a sequence of distinct tokens
        assert unique.run("copy_unique", [sequence]) == repeat.run("copy_repeat", [sequence])
        y = [rng.choice("ab") for _ in range(n)]  # repeats: only copy_repeat is right
        assert _generate(repeat, "copy_repeat", y + ["|"]) == y + ["|"] + y + ["$"]


def _reference_sequence(prompt: list) -> list:
    """The whole sequence of a count ("a b |") or copy ("x|") prompt, in plain Python."""
    if len(prompt) == 3 and prompt[0] in NUMBERS:
        return prompt + [str(n) for n in range(int(prompt[0]), int(prompt[1]) + 1)] + ["$"]
    return prompt + prompt[:-1] + ["$"]


@pytest.mark.parametrize("name", ["count", "copy_unique", "copy_repeat"])
def test_autoregressive_configs_continue_their_prompts_to_the_reference(name):
    config = load_config(SUITE / f"{name}.toml")
    task = config.task
    data = TaskData(task, _program(task.program), ["-", *task.vocab])
    lengths = list(range(task.train_lengths[0], task.test_lengths[1] + 1)) * 8
    rng = np.random.default_rng(0)
    prompts = [task.sampler.sample(rng, n, list(task.sampler_vocab)) for n in lengths]
    for prompt, n, continuation in zip(prompts, lengths, data.continuations(prompts, lengths)):
        assert prompt + continuation == _reference_sequence(prompt)
        assert len(prompt + continuation) <= task.sampler.max_sequence(n)


def test_additions_agree_with_integers():
    program = _program(SUITE / "addition.rasp")
    rng = random.Random(1)
    pairs = []
    for _ in range(500):
        n = rng.randint(3, 20)
        left = rng.randint(1, n - 2)
        pairs.append(("".join(rng.choice("0123456789") for _ in range(left)),
                      "".join(rng.choice("0123456789") for _ in range(n - 1 - left))))
    inputs = [a + "+" + b for a, b in pairs]
    forward = program.run("add_forward", inputs)
    reversed_ = program.run("add_reversed", inputs)
    for (a, b), f, r in zip(pairs, forward, reversed_):
        assert int("".join(map(str, f))) == int(a) + int(b), f"add_forward {a}+{b}: {f}"
        assert int("".join(map(str, r))[::-1]) == int(a[::-1]) + int(b[::-1]), \
            f"add_reversed {a}+{b}: {r}"
