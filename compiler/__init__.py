"""Compile RASP programs to exact transformer weights through tracr.

    import rasp, compiler
    program = rasp.load("examples/sort.rasp")
    compiler.compiled_size(program, "sort_tokens", vocab="abcd", max_seq_len=8)  # no weights
    model = compiler.compile(program, "sort_tokens", vocab="abcd", max_seq_len=8)
    model.run(["dcba", "abca"])
    model.to_transformer_lens()     # a TransformerLens HookedTransformer (the `lens` extra)
"""

from compiler.assemble import ModelSize
from compiler.compile import compile, compiled_size
from compiler.errors import CompileError
from compiler import export
from compiler.export import load_model, save_model
from compiler.lens import load_lens, run_lens, to_transformer_lens
from compiler.model import CompiledModel

__all__ = ["compile", "compiled_size", "ModelSize", "CompileError", "CompiledModel", "export", "load_model", "save_model",
           "load_lens", "run_lens", "to_transformer_lens"]
