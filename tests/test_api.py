"""The harness's Python API (`generalization/__init__.py`): every documented name resolves,
and loading a config (or importing the package) does not import JAX."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import generalization

ROOT = Path(__file__).resolve().parent.parent


def test_every_exported_name_resolves() -> None:
    for name in generalization.__all__:
        assert getattr(generalization, name) is not None, name
    assert generalization.load_results.__module__ == "generalization.reporting.results"


def test_loading_and_checking_a_config_does_not_import_jax() -> None:
    script = (
        "import sys\n"
        "from generalization import load_config, load_sweep\n"
        "load_config('examples/experiments/quick.toml')\n"
        "load_sweep('examples/sweeps/contrast.toml')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'haiku', 'optax'))\n"
        "print(heavy)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
