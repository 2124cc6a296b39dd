"""Input samplers, one module per family, and the registry from name to sampler.

    sampler = make_sampler("dyck", {"imbalance": 0.5})
    sampler.sample(np.random.default_rng(0), 6, ["(", ")"])    # e.g. ['(', '(', ')', ')', '(', ')']

* `base`: the `Sampler` interface, `PromptSampler` (autoregressive prompts), `SamplerError`;
* `sequences`: `uniform`, `unique`;  `numbers`: `digits`, `binary`, `addition`;
  `brackets`: `dyck`;  `prompts`: `count_prompt`, `copy_prompt`;  `published`: the prompts of
  Huang et al. (2025)'s tasks, `majority_prompt`, `parity_prompt`, `sort_prompt`,
  `binary_addition_prompt`.

A new sampler is a small class in the module of its family, added to `SAMPLERS` below; its
options are `setting`s with their rules, which `make_sampler` and a config's
`[task.sampler]` table both go through.
"""

from __future__ import annotations

from typing import Any, Mapping

from generalization.settings import Invalid
from generalization.tasks.samplers.base import PromptSampler, Sampler, SamplerError
from generalization.tasks.samplers.brackets import KNOWN_PAIRS, Dyck
from generalization.tasks.samplers.numbers import Addition, Binary, Digits
from generalization.tasks.samplers.prompts import CopyPrompt, CountPrompt
from generalization.tasks.samplers.published import (BinaryAdditionPrompt, MajorityPrompt,
                                                     ParityPrompt, SortPrompt)
from generalization.tasks.samplers.sequences import Uniform, Unique
from rasp.errors import did_you_mean

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (Uniform, Unique, Digits, Binary, Addition, Dyck, CountPrompt,
                              CopyPrompt, MajorityPrompt, ParityPrompt, SortPrompt,
                              BinaryAdditionPrompt)}


def make_sampler(name: str, options: Mapping[str, Any] | None = None) -> Sampler:
    """The registered sampler `name` with `options`; `SamplerError` names a bad name or option."""
    cls = SAMPLERS.get(name)
    if cls is None:
        raise SamplerError("name", f"unknown sampler `{name}`",
                           hint=did_you_mean(name, SAMPLERS) or f"samplers: {', '.join(SAMPLERS)}")
    known = cls.keys()
    for key in options or {}:
        if key not in known:
            raise SamplerError(key, f"the `{name}` sampler has no option `{key}`",
                               hint=did_you_mean(key, known) or
                               (f"its options: {', '.join(known)}" if known else
                                "it takes no options"))
    try:
        return cls(**(options or {}))
    except Invalid as invalid:
        raise SamplerError(invalid.key, invalid.problem, invalid.hint) from None


def prompt_samplers() -> list[str]:
    """The names of the samplers that draw autoregressive prompts."""
    return [name for name, cls in SAMPLERS.items() if issubclass(cls, PromptSampler)]


__all__ = ["SAMPLERS", "KNOWN_PAIRS", "make_sampler", "prompt_samplers", "Sampler",
           "PromptSampler", "SamplerError", "Uniform", "Unique", "Digits", "Binary", "Addition",
           "Dyck", "CountPrompt", "CopyPrompt", "MajorityPrompt", "ParityPrompt", "SortPrompt",
           "BinaryAdditionPrompt"]
