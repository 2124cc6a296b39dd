"""Tasks: what the learned models learn, and the labelled data they learn it from.

* `samplers/`: the input samplers, one module per family, and their registry (`make_sampler`);
* `task.py`: `Task`, a program's s-op with its vocabulary, lengths, sampler and format (also
  the `[task]` section of a config);
* `encoding.py`: `Encoding`, tokens and output values as ids (what a learned model reads and
  writes);
* `data.py`: `TaskData`, a task's encoding and batches labelled by the interpreter;
* `continuation.py`: greedy continuation of prompts (autoregressive tasks).

Nothing here imports JAX.
"""

from generalization.tasks.continuation import IndexedRunner, Runner, continue_prompts
from generalization.tasks.data import Batch, Examples, TaskData
from generalization.tasks.encoding import IGNORE_LABEL, PAD_ID, Encoding
from generalization.tasks.samplers import (KNOWN_PAIRS, SAMPLERS, Addition, Binary, CopyPrompt,
                                           CountPrompt, Digits, Dyck, PromptSampler, Sampler,
                                           SamplerError, Uniform, Unique, make_sampler,
                                           prompt_samplers)
from generalization.tasks.task import AUTOREGRESSIVE, FORMATS, PER_POSITION, Task

__all__ = [
    "IndexedRunner", "Runner", "continue_prompts", "IGNORE_LABEL", "PAD_ID", "Encoding", "Batch",
    "Examples",
    "TaskData", "KNOWN_PAIRS", "SAMPLERS", "Addition", "Binary", "CopyPrompt", "CountPrompt",
    "Digits", "Dyck", "PromptSampler", "Sampler", "SamplerError", "Uniform", "Unique",
    "make_sampler", "prompt_samplers", "AUTOREGRESSIVE", "FORMATS", "PER_POSITION", "Task",
]
