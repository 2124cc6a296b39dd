#!/usr/bin/env bash
# The accelerator check of the reproduction, prepared as one command for a machine with a GPU:
#  1. training tokens/s of our trainer against a plain one-step-per-call loop, in one run
#     (bench/bench_training.py);
#  2. the paper preset's four quickest tasks with 3 seeds each
#     (examples/sweeps/published_paper_gpu.toml), whose study page names the device.
#
#   bash bench/paper_gpu.sh OUT [rasp sweep options, e.g. --set training.steps=3000]
#
# OUT receives devices.txt, bench_training.txt, sweep.log and published_paper_gpu.tar.gz (the
# sweep folder less its checkpoints and models, a few MB: study.md, study.html, plots/, each
# run's results.json and report); the sweep itself runs in a scratch folder, deleted after.
# Needs JAX for the GPU and the project's dependencies (README, "Reproducing the published
# results"), not the project installed: it runs from this checkout. WHEELS=FOLDER installs the
# wheels in FOLDER first (without dependencies), for a machine that reaches no package index.
# Exits 2 when JAX sees no GPU, unless ALLOW_CPU=1 (a CPU run at tiny step counts checks the
# script itself). PYTHON (default python3) runs both; BENCH_OPTIONS (default --steps 100) go
# to the training benchmark.
set -euo pipefail
out=${1:?usage: bash bench/paper_gpu.sh OUT [rasp sweep options]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # the project runs from its checkout
python=${PYTHON:-python3}
if [[ -n ${WHEELS:-} ]]; then   # packages the machine lacks, carried as wheels (README)
    "$python" -m pip install -q --no-deps "$WHEELS"/*.whl
fi
backend=$("$python" -c "import jax; print(jax.default_backend())")
if [[ $backend != gpu && ${ALLOW_CPU:-0} != 1 ]]; then
    echo "bench/paper_gpu.sh: JAX computes on '$backend', not on a GPU (hint: install JAX for" \
         "CUDA, README; ALLOW_CPU=1 runs it anyway)" >&2
    exit 2
fi
"$python" -c "import jax; print(jax.devices())" > "$out/devices.txt"
# shellcheck disable=SC2086  # the options are words
"$python" bench/bench_training.py ${BENCH_OPTIONS:---steps 100} 2>&1 | tee "$out/bench_training.txt"
scratch=$(mktemp -d)
"$python" -m command_line.main sweep examples/sweeps/published_paper_gpu.toml \
    -o "$scratch/published_paper_gpu" --workers 4 "$@" 2>&1 | tee "$out/sweep.log"
tar czf "$out/published_paper_gpu.tar.gz" --exclude=checkpoints --exclude=models \
    -C "$scratch" published_paper_gpu
rm -rf "$scratch"
echo "bench/paper_gpu.sh: results in $out"
