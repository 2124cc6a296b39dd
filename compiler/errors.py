"""The compiler's refusals: located, with the rule broken and a rewrite that compiles."""

from rasp.errors import RaspError


class CompileError(RaspError):
    """A program, or part of one, that cannot become exact transformer weights."""

    kind = "compile error"
