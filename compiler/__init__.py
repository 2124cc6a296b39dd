"""Compile RASP programs to exact transformer weights through tracr.

    import rasp, compiler
    program = rasp.load("examples/sort.rasp")
    model = compiler.compile(program, "sort_tokens", vocab="abcd", max_seq_len=8)
    model.run(["dcba", "abca"])
"""

from compiler.compile import compile
from compiler.errors import CompileError
from compiler.export import load_model, save_model
from compiler.model import CompiledModel

__all__ = ["compile", "CompileError", "CompiledModel", "load_model", "save_model"]
