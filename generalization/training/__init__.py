"""Training every seed of one model configuration together.

* `config.py`: `TrainConfig`, the `[training]` section (plain data, no JAX);
* `steps.py`: the loss, the optimiser and the jitted steps, vmapped over seeds;
* `batches.py`: each seed's batches, drawn on the host from its own stream;
* `loop.py`: `train`, with early stopping and resumable checkpoints (`checkpoint.py`).
"""
