"""The learned models.

* `config.py`: `ModelConfig`, the positional encodings and activations there are, and the rule
  that the width splits into heads (plain data, no JAX);
* `transformer.py`: the pre-LayerNorm transformer in Haiku, readable in one sitting;
* `positions.py`: the positional encodings, ids on the host and signals in the model;
* `from_compiled.py`: a compiled model's weights written exactly into a learned one;
* `saved.py`: trained models saved per seed (safetensors) and loaded back to run.
"""
