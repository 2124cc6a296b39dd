"""The limits that keep a program, its inputs and its compiled model within memory and time.

Each is checked before anything of that size is built, and breaking one is a located
`RaspError` that names the limit and how to raise it where a user could need more:

    MAX_LIST_LENGTH           10**6   a list (`range`, `+`, a comprehension) or a string (`+`)
    MAX_LOOP_ITERATIONS       10**5   iterations of the for loops and comprehensions of one file
                                      (or REPL entry), which unroll into the program
    MAX_INPUT_LENGTH          4,096   tokens of one input the interpreter evaluates; raise it
                                      with `rasp run --max-input-len N`, or
                                      `Program.run(..., max_length=N)`
    MAX_COMPILE_LENGTH        512     a compiled model's `max_seq_len`; raise it with `--large`
                                      (up to MAX_LARGE_COMPILE_LENGTH) or
                                      `compile(..., length_limit=N)`
    MAX_LARGE_COMPILE_LENGTH  4,096   the same with `--large`

Why: the interpreter evaluates a selector as a [batch, N, N] array, so an input of N tokens
costs about 8 N^2 bytes per aggregate (134 MB at 4,096), and inputs are evaluated in chunks of
at most about CELLS_PER_CHUNK selector cells; a compiled model grows faster than linearly in
its `max_seq_len`. The fixed limits could not usefully be raised: loops unroll into the
computation graph, so a program that needs more iterations (or longer lists) could not be run
or compiled in reasonable time anyway.
"""

from __future__ import annotations

MAX_LIST_LENGTH = 1_000_000
MAX_LOOP_ITERATIONS = 100_000
MAX_INPUT_LENGTH = 4_096
MAX_COMPILE_LENGTH = 512
MAX_LARGE_COMPILE_LENGTH = 4_096
# Selector cells (batch x N x N) evaluated together: 16M cells are 128 MB as float64.
CELLS_PER_CHUNK = 1 << 24
