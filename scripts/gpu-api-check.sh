#!/usr/bin/env bash
# The TypeScript API on a GPU, in one command, for a machine with a CUDA GPU, Node, this
# package's node_modules and dist/ (npm install), a Python with a CUDA torch, CMake and
# nvcc; no network needed. What scripts/gpu-check.sh checks in C++, this checks the way users
# meet it:
#   1. builds the addon against that torch as a user with a CUDA torch installs it
#      (LIBTORCH=<torch folder> node scripts/install.js, into build/Release: it replaces the
#      binary there, so afterwards the CPU-only tests of `npm test` no longer apply) and
#      checks that it sees the GPU;
#   2. runs the JS tests that take the GPU path when there is one (test/native/
#      executor.test.ts, cudaMemory.test.ts);
#   3. times training steps and their peak GPU memory through the public API
#      (bench/apiStep.js --device cuda, cudaTensorMemory) and the plain-PyTorch step
#      (bench/baseline/cover_step.py) on the same GPU, float32 and bf16, at 2D 384^2, B = 24
#      and 3D 128^3, B = 2;
#   4. pretrains on the built-in demo on the GPU through the CLI (2D, resumed once, and 3D).
# Everything lands in OUT (default ./gpu-api-check-out): summary.txt, build.log, tests.txt,
# steps.jsonl (one line per API or PyTorch measurement), steps.log (their stderr) and cli.log. Exit status 0 only when
# every check passed.
#
#   scripts/gpu-api-check.sh        (npm run gpu-check:api)
#   OUT=/tmp/report PYTHON=python3 scripts/gpu-api-check.sh
#   GPU_API_CHECK_TIMEOUT=S   bound each command, the build included (default 300)
#   GPU_API_CHECK_STEPS=N     timed steps per measurement, at least 2 (default 6; the first
#                             is warm-up)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu-api-check-out}
python=${PYTHON:-python3}
limit=${GPU_API_CHECK_TIMEOUT:-300}
steps=${GPU_API_CHECK_STEPS:-6}
mkdir -p "$out"
report_name=gpu-api-check
# shellcheck source=scripts/gpuCheckReport.sh
. "$root/scripts/gpuCheckReport.sh"
[[ "$limit" =~ ^[0-9]+$ && "$steps" =~ ^[0-9]+$ && "$steps" -ge 2 ]] ||
  fail "GPU_API_CHECK_TIMEOUT is whole seconds and GPU_API_CHECK_STEPS a whole number of at least 2, got \"$limit\" and \"$steps\""
started=$(date +%s)
cd "$root" || exit 1
command -v node >/dev/null || fail "no node on PATH: this check drives the TypeScript API"
[ -d node_modules ] && [ -f dist/lib/index.js ] || fail "run npm install first (node_modules and dist/ are missing)"
torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))') ||
  fail "no torch in $python; set PYTHON to a Python that has a CUDA build of torch"
torch_version=$("$python" -c 'import torch; print(torch.__version__.split("+")[0])')
say "node $(node --version); torch $torch_version at $torch_dir"

# 1. The addon, built against that torch as `npm install` builds it; its version, whatever
# it is, is the one asked for (the package pins the CPU torch it provisions, not this one).
LIBTORCH=$torch_dir COVER_TORCH_TORCH_SPEC="torch==$torch_version" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) timeout "$limit" node scripts/install.js >"$out/build.log" 2>&1 ||
  fail "building the addon failed (build.log)" "$out/build.log"
cuda=$(node -e 'const { info } = require("./dist/lib"); console.log(JSON.stringify(info().cuda))' 2>>"$out/build.log")
say "built in $(($(date +%s) - started)) s; info().cuda: $cuda"
[[ "$cuda" == *'"available":true'* ]] || fail "the addon sees no CUDA device (build.log)" "$out/build.log"

failed=0
check() { # check NAME LOG COMMAND...: runs it under the time limit into LOG, says ok or FAIL
  local name=$1 log=$2
  shift 2
  if timeout "$limit" "$@" >>"$out/$log" 2>&1; then
    say "ok   $name"
  else
    failed=$((failed + 1))
    say "FAIL $name ($log)"
  fi
}

# 2. The JS tests that take the GPU path when one is there.
check "JS tests on the GPU" tests.txt node node_modules/.bin/jest --runInBand \
  test/native/executor.test.ts test/native/cudaMemory.test.ts

# 3. Steps through the public API against the plain-PyTorch step, on the same GPU.
: >"$out/steps.jsonl"
measure() { # measure LABEL COMMAND...: appends {"label": ..., "result": <its last line>}
  local label=$1 line
  shift
  # The JSON is the last line of stdout (anything printed before it is not).
  if line=$(timeout "$limit" "$@" 2>>"$out/steps.log" | tail -n 1) && [[ "$line" == "{"*"}" ]]; then
    echo "{\"label\":\"$label\",\"result\":$line}" >>"$out/steps.jsonl"
  else
    failed=$((failed + 1))
    say "FAIL $label (steps.log)"
  fi
}
threads=$(nproc)
for shape in "2 384 24" "3 128 2"; do
  read -r dims size batch <<<"$shape"
  for bf16 in 0 1; do
    label="${dims}D ${size} B${batch}$([ "$bf16" = 1 ] && echo ' bf16')"
    measure "api $label" node bench/apiStep.js step --device cuda --dims "$dims" --size "$size" \
      --batch "$batch" --steps "$steps" --threads "$threads" --bf16 "$bf16"
    measure "pytorch $label" "$python" bench/baseline/cover_step.py time --dims "$dims" --size "$size" \
      --batch "$batch" --steps "$steps" --device cuda --threads "$threads" $([ "$bf16" = 1 ] && echo --bf16)
  done
done
# Median of the steps after the first and peak GPU memory, the API's against PyTorch's.
if ! node - "$out/steps.jsonl" <<'JS' | tee -a "$out/summary.txt"; then
const lines = require('node:fs').readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map(JSON.parse);
const median = (ms) => { const s = ms.slice(1).sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const against = (ours, theirs, unit) =>
  theirs === undefined ? '' : ` (${(ours / theirs).toFixed(2)}x PyTorch's ${theirs.toFixed(0)} ${unit})`;
for (const line of lines.filter((l) => l.label.startsWith('api '))) {
  const shape = line.label.slice(4);
  const api = line.result;
  const torch = lines.find((l) => l.label === `pytorch ${shape}`)?.result;
  const ms = median(api.stepMs);
  console.log(
    `gpu-api-check: step ${shape}: ${ms.toFixed(0)} ms through the API${against(ms, torch && median(torch.stepMs), 'ms')}, ` +
      `peak ${api.peakGpuMb.toFixed(0)} MB of GPU memory${against(api.peakGpuMb, torch?.peakGpuMb, 'MB')}`,
  );
}
JS
  failed=$((failed + 1))
  say "FAIL the step summary (steps.jsonl)"
fi

# 4. The CLI on the built-in demo, on the GPU: train, resume, 3D.
runs=$(mktemp -d)
demo=(node dist/lib/cli.js pretrain --demo --device cuda --log-level warn)
check "pretrain --demo on cuda (2D, 40 steps)" cli.log "${demo[@]}" --steps 40 --checkpoint-every 20 --out "$runs/2d"
# Longer than it was started with, so from its own config.yaml: --demo --steps 60 would
# derive another warm-up (5% of the steps) and be refused as a different run.
check "pretrain --demo on cuda, resumed to 60 steps" cli.log node dist/lib/cli.js pretrain \
  --config "$runs/2d/config.yaml" --resume --steps 60 --device cuda --log-level warn
check "pretrain --demo --dims 3 on cuda (20 steps)" cli.log "${demo[@]}" --dims 3 --steps 20 --out "$runs/3d"
for run in 2d 3d; do
  if [ -f "$runs/$run/final.safetensors" ]; then
    # Median step time from the run's metrics, and its last losses.
    node -e '
      const lines = require("node:fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
      const ms = lines.map((l) => l.timings.stepMs).slice(1).sort((a, b) => a - b);
      const last = lines[lines.length - 1];
      console.log(`gpu-api-check: demo ${process.argv[2]}: ${lines.length} steps in metrics.jsonl, median ${ms[Math.floor(ms.length / 2)].toFixed(1)} ms a step, last L_vec ${last.vectorLoss.toPrecision(4)}`);
    ' "$runs/$run/metrics.jsonl" "$run" | tee -a "$out/summary.txt"
  else
    failed=$((failed + 1))
    say "FAIL demo $run left no final.safetensors (cli.log)"
  fi
done
rm -rf "$runs"
say "done in $(($(date +%s) - started)) s; $failed failed check(s)"
exit $((failed > 0))
