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
# to the training benchmark. For a machine lent for a fixed time, BENCH_SECONDS=N and
# SWEEP_SECONDS=N stop the benchmark and the sweep after N seconds each: what finished is packed
# all the same, the study page rebuilt from the runs that finished (it lists the others), and
# the script exits 1; so does a benchmark or sweep that fails, once the other has run.
set -euo pipefail
out=${1:?usage: bash bench/paper_gpu.sh OUT [rasp sweep options]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # the project runs from its checkout
python=${PYTHON:-python3}
for limit in BENCH_SECONDS SWEEP_SECONDS; do
    if [[ -n ${!limit:-} && ! ${!limit} =~ ^[1-9][0-9]*$ ]]; then
        echo "bench/paper_gpu.sh: $limit='${!limit}' is not a positive whole number of seconds" \
             "(hint: $limit=410, or leave it unset for no limit)" >&2
        exit 2
    fi
done
if [[ -n ${WHEELS:-} ]]; then   # packages the machine lacks, carried as wheels (README)
    "$python" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
fi
backend=$("$python" -c "import jax; print(jax.default_backend())")
if [[ $backend != gpu && ${ALLOW_CPU:-0} != 1 ]]; then
    echo "bench/paper_gpu.sh: JAX computes on '$backend', not on a GPU (hint: install JAX for" \
         "CUDA, README; ALLOW_CPU=1 runs it anyway)" >&2
    exit 2
fi
"$python" -c "import jax; print(jax.devices())" > "$out/devices.txt"
within() {   # within SECONDS COMMAND...: the command, stopped after SECONDS when they are given
    local seconds=$1
    shift
    if [[ -n $seconds ]]; then timeout --kill-after=15 "$seconds" "$@"; else "$@"; fi
}
benched=0
# shellcheck disable=SC2086  # the options are words
within "${BENCH_SECONDS:-}" "$python" bench/bench_training.py ${BENCH_OPTIONS:---steps 100} 2>&1 |
    tee "$out/bench_training.txt" || benched=$?
scratch=$(mktemp -d)
swept=0
within "${SWEEP_SECONDS:-}" "$python" -m command_line.main sweep examples/sweeps/published_paper_gpu.toml \
    -o "$scratch/published_paper_gpu" --workers 4 "$@" 2>&1 | tee "$out/sweep.log" || swept=$?
# Stopped by its limit (timeout's 124, or 137 once killed): the page is not yet written.
if [[ ($swept == 124 || $swept == 137) && -f $scratch/published_paper_gpu/sweep.json ]]; then
    echo "bench/paper_gpu.sh: the sweep stopped (exit $swept); the study page is rebuilt from" \
         "the runs that finished" | tee -a "$out/sweep.log" >&2
    "$python" -c "import sys; from generalization.reporting.study import write_study
write_study(sys.argv[1])" "$scratch/published_paper_gpu"
fi
if [[ -d $scratch/published_paper_gpu ]]; then
    tar czf "$out/published_paper_gpu.tar.gz" --exclude=checkpoints --exclude=models \
        -C "$scratch" published_paper_gpu
fi
rm -rf "$scratch"
echo "bench/paper_gpu.sh: results in $out (benchmark exit $benched, sweep exit $swept)"
exit $(( benched != 0 || swept != 0 ))
