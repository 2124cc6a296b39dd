"""RASP: the Restricted Access Sequence Processing language, parsed, checked and run.

    import rasp
    program = rasp.load("examples/sort.rasp")
    program.run("sort_tokens", ["banana"])   # [['a', 'a', 'a', 'b', 'n', 'n']]
"""

from rasp.errors import RaspError, RaspNameError, RaspSyntaxError, RaspTypeError, RaspValueError
from rasp.parser import parse, parse_expression
from rasp.program import Program, Workspace, load, loads

__all__ = [
    "RaspError", "RaspNameError", "RaspSyntaxError", "RaspTypeError", "RaspValueError",
    "parse", "parse_expression", "Program", "Workspace", "load", "loads",
]
