"""`compile`: one s-op of a checked RASP program to an exact compiled transformer.

Stages: profile the program's selectors with the interpreter on a sample of
inputs (`analysis`), lower its graph to tracr expressions with chosen
encodings (`lower`), build tracr's craft model with exact value sets and MLP
slopes (`craft`), write the weights without Haiku (`assemble`), and check the
compiled model against the interpreter on the same sample (`verify`, exact
equality), so a model that comes back has been seen to agree.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Iterable

from tracr.compiler import nodes
from tracr.rasp import rasp as tracr

from compiler import analysis, craft, verify
from compiler.assemble import ModelSize, assemble
from compiler.errors import CompileError
from compiler.lower import CATEGORICAL, NUMERICAL, Lowering
from compiler.model import CompiledModel, Head, Layout
from rasp import ast, evaluate, graph, limits
from rasp.ast import NO_SPAN, Span
from rasp.parser import parse
from rasp.program import Program
from rasp.values import value_key, value_order


def compile(program: Program, sop: str, vocab: Iterable[Any], max_seq_len: int,
            causal: bool = False, verify: bool = True,
            length_limit: int = limits.MAX_COMPILE_LENGTH) -> CompiledModel:
    """Compile s-op `sop` of `program` for inputs over `vocab` of length up to `max_seq_len`
    (at most `length_limit`: a model grows faster than its length, `rasp.limits`)."""
    started = time.perf_counter()
    stages = _build(program, sop, vocab, max_seq_len, causal, length_limit)
    built, tokens = stages.built, stages.tokens
    tokens_space = craft.tokens_space(tokens)
    output_space = craft.output_space(built)
    blocks = assemble(built.model, tokens_space, craft.indices_space(max_seq_len),
                      output_space)
    numerical = tracr.is_numerical(stages.tip)
    output_values = sorted(built.sink[nodes.VALUE_SET], key=value_order) if numerical else \
        [direction.value for direction in output_space.basis]
    model = CompiledModel(
        blocks=blocks, vocab=tokens, max_seq_len=max_seq_len, causal=causal,
        output_encoding=NUMERICAL if numerical else CATEGORICAL,
        output_values=output_values,
        token_ids={value_key(d.value): i for i, d in enumerate(tokens_space.basis)
                   if d.value not in (craft.BOS, craft.PAD)},
        bos_id=_index(tokens_space, craft.BOS), pad_id=_index(tokens_space, craft.PAD),
        layout=_layout(built, stages.lowering), sop=sop,
        source_hash=hashlib.sha256(program.source.encode()).hexdigest(),
        encodings=_encodings(built), mlp_exactness=built.mlp_exactness)
    if verify:
        check_against_interpreter(model, stages.node, stages.sample)
        model.verified_inputs = len(stages.sample)
    model.compile_seconds = time.perf_counter() - started
    return model


def compiled_size(program: Program, sop: str, vocab: Iterable[Any], max_seq_len: int,
                  causal: bool = False,
                  length_limit: int = limits.MAX_COMPILE_LENGTH) -> ModelSize:
    """The size `compile` would give, without running or checking the model.

    It runs the stages that decide the model's shape (profile, lowering, tracr's blocks,
    which are small: they span only the spaces each block reads and writes), so it costs a
    fraction of a compile and refuses what `compile` refuses."""
    stages = _build(program, sop, vocab, max_seq_len, causal, length_limit)
    return ModelSize.of(assemble(stages.built.model, craft.tokens_space(stages.tokens),
                                 craft.indices_space(max_seq_len),
                                 craft.output_space(stages.built)))


@dataclass
class _Stages:
    node: graph.Sop
    tokens: list
    sample: list[list]
    lowering: Lowering
    tip: tracr.SOp
    built: craft.CraftModel


def _build(program: Program, sop: str, vocab: Iterable[Any], max_seq_len: int,
           causal: bool, length_limit: int) -> _Stages:
    """Profile, lower and build tracr's blocks (the stages before the dense weights)."""
    node = program.sop(sop)
    tokens = _check_vocab(vocab, max_seq_len, length_limit)
    sample = analysis.sample_inputs(tokens, max_seq_len)
    try:
        selectors = analysis.profile(node, sample)
        lowering = Lowering(tokens, max_seq_len, selectors, causal=causal)
        tip = lowering.lower_output(node)
        built = craft.build(tip, lowering, tokens, max_seq_len, causal)
    except CompileError as error:
        raise program.workspace.attach_source(_located(error, program, sop)) from None
    return _Stages(node, tokens, sample, lowering, tip, built)


def check_against_interpreter(model: CompiledModel, node: graph.Sop,
                              inputs: list[list]) -> None:
    """Raise CompileError naming the first input where model and interpreter differ."""
    difference = verify.compare(model, node, inputs)
    if difference is not None:
        raise CompileError(
            f"the compiled model of `{model.sop}` disagrees with the interpreter on "
            f"{difference.input!r}: interpreter {difference.interpreter}, model "
            f"{difference.model}", node.span,
            hint="please report this program: it is a compiler bug")


def _located(error: CompileError, program: Program, sop: str) -> CompileError:
    """`error`, placed where `sop` is defined if it has no place of its own (it is about a
    primitive, such as `length`, that the program compiles as its output)."""
    if error.span is not NO_SPAN:
        return error
    return CompileError(error.message, _definition(program, sop), hint=error.hint)


def _definition(program: Program, sop: str) -> Span:
    """The value last assigned to `sop` at the top level of the program's file."""
    filename = next((name for name, text in program.workspace.sources.items()
                     if text == program.source), str(program.path))
    span = NO_SPAN
    for statement in parse(program.source, filename).statements:
        if isinstance(statement, ast.Assign) and sop in statement.targets:
            values = statement.values
            span = values[statement.targets.index(sop)].span \
                if len(values) == len(statement.targets) else statement.span
    return span


def _check_vocab(vocab: Iterable[Any], max_seq_len: int,
                 length_limit: int = limits.MAX_COMPILE_LENGTH) -> list:
    tokens = list(vocab)
    if not tokens:
        raise CompileError("the vocabulary is empty", hint='give tokens, e.g. --vocab "abc"')
    seen = set()
    for token in tokens:
        if not isinstance(token, (str, int, float, bool)):
            raise CompileError(f"vocabulary tokens must be strings, numbers or booleans, "
                               f"not {token!r}", hint='e.g. --vocab "abc" or --vocab "[1, 2]"')
        if token in (craft.BOS, craft.PAD):
            raise CompileError(f"{token!r} is reserved for the compiler",
                               hint="rename the token in the vocabulary and the program")
        if value_key(token) in seen:   # as an experiment config refuses it
            raise CompileError(f"the vocabulary lists the token {token!r} twice",
                               hint="give each token once")
        seen.add(value_key(token))
    evaluate.checked_input(tokens)
    if max_seq_len < 1:
        raise CompileError(f"max_seq_len must be at least 1, not {max_seq_len}",
                           hint="give the longest input the model must accept, e.g. --max-len 8")
    if max_seq_len > length_limit:
        raise CompileError(
            f"max_seq_len {max_seq_len:,} is above the limit of {length_limit:,}: a compiled "
            f"model grows faster than its length", hint=(
                f"pass --large to allow up to {limits.MAX_LARGE_COMPILE_LENGTH:,}"
                if length_limit < limits.MAX_LARGE_COMPILE_LENGTH else
                "compile for shorter inputs"))
    return sorted(tokens, key=value_order)


def _index(space, value: Any) -> int:
    return next(i for i, d in enumerate(space.basis) if d.value == value)


def _encodings(built: craft.CraftModel) -> dict[str, str]:
    result = {}
    for label, node in built.graph.nodes.items():
        expr = node[nodes.EXPR]
        if isinstance(expr, tracr.SOp):
            result[label] = NUMERICAL if tracr.is_numerical(expr) else CATEGORICAL
    return result


def _layout(built: craft.CraftModel, lowering: Lowering) -> Layout:
    layout = Layout()
    head_counts: dict[int, int] = {}
    for label, layer_no in built.layer_of.items():
        node = built.graph.nodes[label]
        expr = node[nodes.EXPR]
        computes = lowering.origins.get(label, label)
        layer = layer_no // 2
        if isinstance(expr, (tracr.Aggregate, tracr.SelectorWidth)):
            index = head_counts.get(layer, 0)
            head_counts[layer] = index + 1
            layout.heads.append(Head(layer, index, computes, label))
            if isinstance(expr, tracr.SelectorWidth):
                layout.mlps.setdefault(layer, []).append(computes + " (count)")
        else:
            layout.mlps.setdefault(layer, []).append(computes)
    return layout
