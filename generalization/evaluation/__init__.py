"""Judging trained seeds against the compiled program.

* `metrics.py`: exact match, token accuracy, the end of a continuation, 95% intervals;
* `predict.py`: predictions and greedy generation of every seed, the metrics per length;
* `counterexamples.py`: minimal disagreeing inputs, found and shrunk by Hypothesis.
"""
