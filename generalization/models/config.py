"""What a learned model may be, as plain data: `ModelConfig`, the positional encodings and
activations there are, and the rule that the width splits into heads. No JAX here: the
experiment config checks its `[model]` section with these same rules without loading it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generalization.settings import Checked, Invalid, at_least, boolean, setting

# Every positional encoding (`positions.py` has the table of what each does).
POSITION_KINDS: tuple[str, ...] = (
    "learned", "offset", "nope", "sinusoidal", "rope", "alibi", "randomized", "index_hints",
    "compiled")
# Activations of the MLP's hidden layer (the functions are in `transformer.py`).
ACTIVATIONS: tuple[str, ...] = ("gelu", "relu")
# Parameter initialisations (`transformer.py`): Haiku's defaults, or GPT-2's.
INITIALISATIONS: tuple[str, ...] = ("haiku", "gpt2")
# Attention families (`attention.py` has the maths of each).
ATTENTION_FAMILIES: tuple[str, ...] = ("softmax", "linear", "mesa")
# Positional encodings that only a softmax can take: ALiBi is a bias added to softmax scores.
SOFTMAX_ONLY_POSITIONS: tuple[str, ...] = ("alibi",)


def position_kind(value: Any) -> str:
    """One of POSITION_KINDS."""
    if value not in POSITION_KINDS:
        raise Invalid(f"unknown positional encoding {value!r}; expected one of "
                      f"{', '.join(POSITION_KINDS)}")
    return value


def activation_name(value: Any) -> str:
    """One of ACTIVATIONS."""
    if value not in ACTIVATIONS:
        raise Invalid(f"must be one of {', '.join(ACTIVATIONS)}, got {value!r}")
    return value


def initialisation_name(value: Any) -> str:
    """One of INITIALISATIONS."""
    if value not in INITIALISATIONS:
        raise Invalid(f"must be one of {', '.join(INITIALISATIONS)}, got {value!r}")
    return value


def attention_families(value: Any) -> tuple[str, ...]:
    """One family for every layer (a string), or a non-empty list of one per layer."""
    families = (value,) if isinstance(value, str) else value
    if not isinstance(families, (list, tuple)) or not families or not all(
            isinstance(f, str) for f in families):
        raise Invalid(f"must be an attention family or a list of one per layer, got {value!r}",
                      hint=f"choose from {', '.join(ATTENTION_FAMILIES)}")
    for family in families:
        if family not in ATTENTION_FAMILIES:
            raise Invalid(f"unknown attention family {family!r}",
                          hint=f"choose from {', '.join(ATTENTION_FAMILIES)}")
    return tuple(families)


def attention_problem(families: tuple[str, ...], layers: int | None,
                      positions: tuple[str, ...]) -> str | None:
    """Why these per-layer attention families do not fit `layers` layers (None: not known
    yet) and these positional encodings, or None when they do."""
    if len(families) > 1 and layers is not None and len(families) != layers:
        return (f"gives {len(families)} attention families for {layers} layers: give one "
                f"family, or one per layer")
    others = sorted(set(families) - {"softmax"})
    for kind in positions:
        if kind in SOFTMAX_ONLY_POSITIONS and others:
            return (f"{kind!r} is a bias on softmax scores and cannot combine with "
                    f"{' or '.join(others)} attention: use 'rope' or an input encoding")
    return None


def class_tokens(value: Any) -> tuple[int, ...]:
    """Per output class, the input id of the token it is (its output row is that token's
    embedding), or -1 for a class that is no input token (it gets a row of its own)."""
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= -1 for v in value):
        raise Invalid(f"must be a list of input ids (-1: not an input token), got {value!r}")
    return tuple(value)


def head_split_problem(width: int, heads: int, rope: bool, heads_name: str) -> str | None:
    """Why a residual of `width` cannot be cut into `heads` heads, or None when it can: heads
    must divide the width, and RoPE, which rotates pairs of coordinates, needs an even head
    size. `heads_name` is what the message calls the number of heads."""
    if width % heads:
        return f"must be divisible by {heads_name} ({heads}), got {width}"
    if rope and width // heads % 2:
        return (f"RoPE rotates pairs of dimensions: 'rope' needs an even head size, so width / "
                f"heads must be even, got {width} / {heads}")
    return None


@dataclass(frozen=True)
class ModelConfig(Checked):
    """Shape of one learned transformer (see `transformer.py` for the maths)."""

    vocab_size: int = setting(rule=at_least(1))    # input ids including PAD (len(vocab) + 1)
    num_classes: int = setting(rule=at_least(1))   # output classes (or outputs of a regression)
    num_layers: int = setting(rule=at_least(0))
    num_heads: int = setting(rule=at_least(1))
    width: int = setting(64, at_least(1))
    mlp_width: int = setting(0, at_least(0))       # 0 means 4 * width
    positions: str = setting("learned", position_kind)
    max_position: int = setting(256, at_least(1))  # position ids are < max_position
    causal: bool = setting(False, boolean)
    layer_norm: bool = setting(True, boolean)      # False: no LayerNorm (a compiled model's maths)
    activation: str = setting("gelu", activation_name)  # of the MLP's hidden layer
    bos: bool = setting(False, boolean)            # prepend a learned BOS vector, the first token
    init: str = setting("haiku", initialisation_name)
    # Tied input and output embeddings when non-empty: one entry per class (`class_tokens`).
    tied_classes: tuple[int, ...] = setting((), class_tokens)
    # With tied_classes: the softmax of the loss also scores every input id that is no class's
    # token (PAD included) and the BOS, as GPT-2's LM head scores its whole vocabulary; their
    # logits follow the classes' and are never a label (`transformer.py`).
    scores_vocabulary: bool = setting(False, boolean)
    # Per layer (one entry: every layer): softmax, linear or mesa (`attention.py`).
    attention: tuple[str, ...] = setting(("softmax",), attention_families)
    linear_normalise: bool = setting(False, boolean)   # linear: divide by the number of keys
    mesa_unit_norm: bool = setting(False, boolean)     # mesa: q and k scaled to unit norm
    # > 0: inputs are vectors float[B, T, input_dim] embedded by a linear map instead of token
    # ids (the in-context regression tasks); vocab_size is then unused.
    input_dim: int = setting(0, at_least(0))

    def cross_check(self) -> None:
        if self.input_dim and self.tied_classes:
            raise Invalid("vector inputs have no token embedding to tie the output layer to",
                          key="tied_classes")
        problem = attention_problem(self.attention, self.num_layers, (self.positions,))
        if problem:
            raise Invalid(problem, key="attention")
        if self.scores_vocabulary and not self.tied_classes:
            raise Invalid("scores the vocabulary through the tied output layer, so it needs "
                          "tied_classes", key="scores_vocabulary")
        if self.tied_classes and (len(self.tied_classes) != self.num_classes or
                                  max(self.tied_classes) >= self.vocab_size):
            raise Invalid(f"must give one input id below {self.vocab_size} (or -1) for each "
                          f"of the {self.num_classes} classes, got {self.tied_classes!r}",
                          key="tied_classes")
        problem = head_split_problem(self.width, self.num_heads, self.positions == "rope",
                                     "num_heads")
        if problem:
            raise Invalid(f"({self.width}) {problem}", key="width")

    def attention_of(self, layer: int) -> str:
        """The attention family of block `layer`."""
        return self.attention[layer if len(self.attention) > 1 else 0]

    @property
    def hidden_width(self) -> int:
        """Width of the MLP's hidden layer: `mlp_width`, or 4 * width when that is 0."""
        return self.mlp_width or 4 * self.width
