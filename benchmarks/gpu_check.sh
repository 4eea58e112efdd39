#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA device:
#   bash benchmarks/gpu_check.sh            # results in ./gpu-results
#   OUT=/some/dir bash benchmarks/gpu_check.sh
# Installs ganforge without dependencies (torch etc. must be there), runs the GPU tests
# (tests/test_gpu.py: graphed vs eager step, AMP, channels_last), then the step and epoch
# benchmarks on CUDA and the r3gan-cifar10 step timing, writing logs and JSON into $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-./gpu-results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# The repository on the path, so the benchmarks import ganforge even if the editable install fails.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# MNIST for the data tests and the epoch benchmark: $GANFORGE_DATA, else ../shared/data/mnist.
if [ -z "${GANFORGE_DATA:-}" ] && [ ! -d ../shared/data/mnist ]; then
    echo "gpu_check: no MNIST (set GANFORGE_DATA=/path/to/mnist): its tests skip and epoch.py fails" | tee "$OUT/warnings.txt"
fi
python3 -m pip install --quiet --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 || cat "$OUT/install.log"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/gpu.txt" 2>&1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

status=0
python3 -m pytest -q tests/test_gpu.py 2>&1 | tee "$OUT/gpu-tests.log" || status=1
python3 benchmarks/step.py --device cuda --model mlp --batch-sizes 64,1024,8192 --steps 500 --repeats 3 \
    --json "$OUT/step-mlp.json" 2>&1 | tee "$OUT/step-mlp.log" || status=1
python3 benchmarks/step.py --device cuda --model mlp --batch-sizes 64 --steps 500 --repeats 3 \
    --tricks soft_labels,noisy_labels,instance_noise --json "$OUT/step-tricks.json" 2>&1 | tee "$OUT/step-tricks.log" || status=1
python3 benchmarks/step.py --device cuda --model dcgan --batch-sizes 64,512 --steps 300 --repeats 3 \
    --json "$OUT/step-dcgan.json" 2>&1 | tee "$OUT/step-dcgan.log" || status=1
python3 benchmarks/epoch.py --device cuda --repeats 3 --files 8 --json "$OUT/epoch.json" 2>&1 | tee "$OUT/epoch.log" || status=1
# The r3gan-cifar10 preset's step (the paper's width-768 networks, rpgan + R1 + R2, batch 512) on random
# CIFAR-shaped images: a short timing, CUDA graphs and eager.
python3 benchmarks/r3gan_step.py --device cuda --steps 30 --warmup 5 --json "$OUT/r3gan-step.json" 2>&1 \
    | tee "$OUT/r3gan-step.log" || status=1
echo "gpu_check: exit status $status; results in $OUT"
exit $status
