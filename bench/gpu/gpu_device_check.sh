#!/usr/bin/env bash
# The one device command for issue 5's GPU figures (run from the repository root on the GPU
# machine, with gpu_payload/ from bench/gpu/gpu_export.py carried): times every exported program,
# then has Nsight Compute time the kernels and count the DRAM bytes of some of them (by default
# the library's memory step and the fastest variant of it at batch 16384).
set -u
out=${OUT:-/tmp/gpu_out}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv > "$out/nvidia_smi.csv" 2>&1
# ONLY: the cases to time (default all); NCU_CASES: the cases whose kernels ncu reads
python3 bench/gpu/gpu_run.py gpu_payload --out "$out" --iters 200 ${ONLY:+--only $ONLY} \
  > "$out/run.log" 2>&1
tail -15 "$out/run.log"
fastest=$(python3 -c "
import json, sys
cases = json.load(open(sys.argv[1]))['cases']
steps = {k: v['per_call_us'] for k, v in cases.items()
         if k.startswith('memory_step_') and k.endswith('_b16384') and 'per_call_us' in v
         and k != 'memory_step_b16384'}
print(min(steps, key=steps.get) if steps else '')" "$out/gpu_results.json" 2>/dev/null)
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "$ncu" ] && [ "${NCU:-1}" = 1 ]; then  # NCU=0: no profile
  mkdir -p /tmp/ncu_run
  timeout "${NCU_SECONDS:-150}" "$ncu" --clock-control none \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv \
    --log-file "$out/ncu.csv" python3 bench/gpu/gpu_run.py gpu_payload --out /tmp/ncu_run \
    --iters 1 --no-copy-rate --only ${NCU_CASES:-memory_step_b16384 $fastest} \
    > "$out/ncu_run.log" 2>&1
  echo "ncu exit $?"
fi
ls -la "$out"
