"""Greedy continuation of prompts, shared by the interpreter's labels of autoregressive tasks
(`data.TaskData.continuations`) and a learned model's generation (`evaluation.predict`)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from rasp.values import value_key

Runner = Callable[[list[list]], Sequence[Sequence[Any]]]
# A runner told which prompts its rows grew from (their indices), for a model whose inputs
# carry something drawn once per sequence (the learned model's index hints).
IndexedRunner = Callable[[list[int], list[list]], Sequence[Sequence[Any]]]


def continue_prompts(run: IndexedRunner, prompts: Sequence[Sequence[Any]], end_token: Any,
                     budgets: Sequence[int], vocab: Sequence[Any]) -> list[list]:
    """Greedy continuation by `run` (the indices of a batch of prompts and their token lists
    -> each list's outputs per position): prompt p grows by t_{k+1} = run([p + t_1..t_k])[-1],
    the output at its last position, until t_k is `end_token`, a token outside `vocab` (it
    cannot be read back), or k = budgets[i]. Returns each prompt's appended tokens t_1..t_k,
    the last one included. Each round runs, in one batch, only the rows still growing."""
    rows = [list(prompt) for prompt in prompts]
    added: list[list] = [[] for _ in rows]
    known = {value_key(token) for token in vocab}
    end = value_key(end_token)
    growing = [i for i, budget in enumerate(budgets) if budget > 0]
    while growing:
        outputs = run(growing, [rows[i] for i in growing])
        still = []
        for i, output in zip(growing, outputs):
            token = output[-1]
            rows[i].append(token)
            added[i].append(token)
            key = value_key(token)
            if key != end and key in known and len(added[i]) < budgets[i]:
                still.append(i)
        growing = still
    return added
