#!/usr/bin/env bash
# The GPU check, in one command for a machine with a CUDA GPU, a Python with a CUDA torch,
# CMake, a C++ compiler and nvcc, but no Node and no network:
#   1. builds the core library, its C++ tests and benchmarks against that torch's LibTorch
#      (CMake's COVER_TORCH_CORE_ONLY: nothing needs Node);
#   2. runs the "cuda: " tests (CUDA MoV kernels against the reference, bfloat16, a training
#      step on the GPU against one on the CPU), then every other C++ test;
#   3. runs the GPU benchmarks (kernels against the reference MoV, training steps, the
#      largest 3D crop, bf16 against fp32 over a few hundred steps) and the plain-PyTorch
#      baseline step on the same GPU.
# Everything lands in OUT (default ./gpu-check-out), in seven files at most (so that a
# remote runner that returns few files keeps them all): summary.txt, build.log (configure,
# build, program start), tests-cuda.txt, tests-cpu.txt, bench.jsonl, baseline.jsonl and
# bench-errors.txt.
# Exit status 0 only when every test passed.
#
#   scripts/gpu-check.sh            (npm run gpu-check, where Node exists)
#   OUT=/tmp/report PYTHON=python3 scripts/gpu-check.sh
# To fit a time limit (build ~3 min on 16 cores, tests ~3 min, benchmarks up to 2 min each):
#   GPU_CHECK_SKIP_TESTS=1        no tests;   GPU_CHECK_SKIP_CPU_TESTS=1  only the "cuda: " ones
#   GPU_CHECK_SKIP_BENCH=1        no benchmarks or baseline;  GPU_CHECK_SKIP_BASELINE=1  no baseline
#   GPU_CHECK_SCENARIOS=REGEX     the benchmark scenarios to run (default ^cuda-); those the
#                                 issue's figures rest on run first, the rest after them
#   GPU_CHECK_DEADLINE=S          start no benchmark or baseline S seconds after the start
#   GPU_CHECK_SCENARIO_TIMEOUT=S  bound each benchmark (default 120)
#   GPU_CHECK_TEST_TIMEOUT=S      bound each "cuda: " test (default 180)
# A rerun on the same machine reuses the build (GPU_CHECK_BUILD, default build-gpu/), so
# the check can be split over calls: tests and the MoV benchmarks first, then the rest.
# Everything is written as it finishes, so a run cut short keeps what it had done; a run
# starts its OUT afresh, so give each call its own OUT.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu-check-out}
build=${GPU_CHECK_BUILD:-$root/build-gpu}
python=${PYTHON:-python3}
mkdir -p "$out" "$build"
report_name=gpu-check
# shellcheck source=scripts/gpuCheckReport.sh
. "$root/scripts/gpuCheckReport.sh"
started=$(date +%s)

torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))') ||
  fail "no torch in $python; set PYTHON to a Python that has a CUDA build of torch"
"$python" - <<'PY' | tee -a "$out/summary.txt"
import torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
print(f'gpu-check: torch {torch.__version__}, CUDA {torch.version.cuda}, GPU {gpu}')
PY
if [ "$("$python" -c 'import torch; print(torch.cuda.is_available())')" != True ] && [ -z "${GPU_CHECK_WITHOUT_GPU:-}" ]; then
  fail "torch sees no CUDA device here; run this on a GPU machine (GPU_CHECK_WITHOUT_GPU=1 builds and runs the CPU tests only)"
fi

# The CUDA toolkit holding nvcc, looked for as scripts/cudaDefines.js does (CUDACXX,
# CUDA_HOME, /usr/local/cuda, PATH: an nvcc on PATH may be a wrapper script elsewhere), and
# nvrtc from the NVIDIA wheels beside torch when there (torch's CMake files look for it).
nvcc=${CUDACXX:-}
[ -z "$nvcc" ] && [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ] && nvcc=$CUDA_HOME/bin/nvcc
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
[ -z "$nvcc" ] && nvcc=$(command -v nvcc)
[ -n "$nvcc" ] || fail "no nvcc: install the CUDA toolkit or set CUDA_HOME"
cuda_root=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
nvrtc=$(find "$(dirname "$torch_dir")/nvidia" -name 'libnvrtc.so*' ! -name '*builtins*' ! -name '*.alt.*' 2>/dev/null | head -n 1)
[ -n "$nvrtc" ] || nvrtc=$(ls "$cuda_root"/lib64/libnvrtc.so* 2>/dev/null | head -n 1)
generator=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
say "LibTorch $torch_dir; CUDA toolkit $cuda_root; build $build ($generator)"
# The tools' versions first: a failure below may be theirs.
{
  cmake --version | head -n 1
  c++ --version | head -n 1
  "$nvcc" --version | tail -n 1
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
} >"$out/build.log" 2>&1

cmake -S "$root" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
  -DCOVER_TORCH_CORE_ONLY=ON -DCOVER_TORCH_LIBTORCH="$torch_dir" \
  -DCUDA_TOOLKIT_ROOT_DIR="$cuda_root" -DCUDAToolkit_ROOT="$cuda_root" -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DTORCH_CUDA_ARCH_LIST="8.0;9.0" ${nvrtc:+-DCUDA_nvrtc_LIBRARY="$nvrtc"} \
  >>"$out/build.log" 2>&1 || fail "CMake configure failed (build.log)" "$out/build.log"
cmake --build "$build" --target cover_torch_core_tests cover_torch_bench -j "$(nproc)" \
  >>"$out/build.log" 2>&1 || fail "build failed (build.log)" "$out/build.log"
say "built in $(($(date +%s) - started)) s"

# The programs find LibTorch and the CUDA runtime by their RUNPATH alone (CMakeLists.txt's
# set_runpath), as the addon does on a user's machine: one that does not start is a failure
# here, not an empty list of tests.
tests="$build/cover_torch_core_tests"
for program in "$tests" "$build/cover_torch_bench"; do
  "$program" --list >"$build/$(basename "$program").list" 2>>"$out/build.log" ||
    fail "$(basename "$program") does not start (build.log)" "$out/build.log"
done
failed=0
# 1. What only this machine can check, first, one process per test. Kernel launches are
# synchronous here, so that a fault is reported by the kernel that made it.
test_limit=${GPU_CHECK_TEST_TIMEOUT:-180}
[[ "$test_limit" =~ ^[0-9]+$ ]] || fail "GPU_CHECK_TEST_TIMEOUT is whole seconds, got \"$test_limit\""
if [ -z "${GPU_CHECK_WITHOUT_GPU:-}" ] && [ -z "${GPU_CHECK_SKIP_TESTS:-}" ]; then
  while IFS= read -r name; do
    if CUDA_LAUNCH_BLOCKING=1 timeout "$test_limit" "$tests" --run "$name" >>"$out/tests-cuda.txt" 2>&1; then
      say "ok   $name"
    else
      failed=$((failed + 1))
      say "FAIL $name (tests-cuda.txt)"
    fi
  done < <(grep '^cuda: ' "$build/cover_torch_core_tests.list")
fi
# 2. The rest of the suite, on this machine's CPU.
if [ -n "${GPU_CHECK_SKIP_TESTS:-}" ] || [ -n "${GPU_CHECK_SKIP_CPU_TESTS:-}" ]; then
  say "CPU tests skipped (GPU_CHECK_SKIP_TESTS or GPU_CHECK_SKIP_CPU_TESTS)"
elif timeout 900 "$tests" --skip-cuda >"$out/tests-cpu.txt" 2>&1; then
  say "ok   all $(grep -c '^ok' "$out/tests-cpu.txt") CPU tests"
else
  failed=$((failed + 1))
  say "FAIL CPU tests: $(grep -c '^FAIL' "$out/tests-cpu.txt") failed (tests-cpu.txt)"
fi
[ -n "${GPU_CHECK_WITHOUT_GPU:-}" ] && { say "no GPU: benchmarks skipped"; exit $((failed > 0)); }
[ -n "${GPU_CHECK_SKIP_BENCH:-}" ] && { say "benchmarks skipped (GPU_CHECK_SKIP_BENCH)"; exit $((failed > 0)); }
limit=${GPU_CHECK_SCENARIO_TIMEOUT:-120}
deadline=${GPU_CHECK_DEADLINE:-}
for number in "$limit" "$deadline"; do
  [[ -z "$number" || "$number" =~ ^[0-9]+$ ]] ||
    fail "GPU_CHECK_SCENARIO_TIMEOUT and GPU_CHECK_DEADLINE are whole seconds, got \"$number\""
done
# The largest-crop search stops trying new sizes, and the bf16 loss curves stop training,
# after half a scenario's time, so that they print what they found before the timeout.
export COVER_TORCH_LARGEST_CROP_BUDGET_S=$((limit / 2)) COVER_TORCH_LOSS_CURVE_BUDGET_S=$((limit / 2))
# True once the deadline has passed (never without one); says what it left out.
pastDeadline() {
  [ -n "$deadline" ] && [ $(($(date +%s) - started)) -ge "$deadline" ] || return 1
  say "deadline (GPU_CHECK_DEADLINE=$deadline s) passed: $1 not run"
}

# 3. Benchmarks, each in its own process; one JSON object per line. The scenarios the
# issue's figures rest on come first, so that a deadline leaves out the others.
: >"$out/bench.jsonl"
first='^cuda-(mov-3d-128-c8-j1-r2-(kernel|reference|positions)|mov-2d-384-c32-j4-r2-kernel|step-(2d-384-b24|3d-128-b2)(-bf16)?|step-3d-largest(-bf16)?|loss-curve-.*)$'
chosen=$(grep -E "${GPU_CHECK_SCENARIOS:-^cuda-}" "$build/cover_torch_bench.list")
while IFS= read -r scenario; do
  [ -z "$scenario" ] && continue
  pastDeadline "$scenario" && continue
  line=$(timeout "$limit" "$build/cover_torch_bench" "$scenario" 2>>"$out/bench-errors.txt")
  status=$?
  # A result printed before a failure (a crash on the way out) is kept, marked with it.
  if [[ "$line" == "{"*"}" ]]; then
    echo "{\"scenario\":\"$scenario\",\"exitStatus\":$status,\"result\":$line}" >>"$out/bench.jsonl"
  fi
  [ "$status" -eq 0 ] || say "benchmark $scenario failed (status $status; 124: out of time) (bench-errors.txt)"
done < <(grep -E "$first" <<<"$chosen"; grep -vE "$first" <<<"$chosen")
say "benchmarks: $(wc -l <"$out/bench.jsonl") scenarios in bench.jsonl"

# 4. The plain-PyTorch step on the same GPU, fp32 and bf16 autocast.
[ -n "${GPU_CHECK_SKIP_BASELINE:-}" ] && { say "baseline skipped (GPU_CHECK_SKIP_BASELINE)"; exit $((failed > 0)); }
: >"$out/baseline.jsonl"
for shape in "--dims 2 --size 384 --batch 24" "--dims 3 --size 128 --batch 2"; do
  for precision in "" "--bf16"; do
    pastDeadline "baseline $shape $precision" && continue
    # shellcheck disable=SC2086
    # All cores, as the GPU step has: the baseline makes its views on the CPU.
    if line=$(timeout "$limit" "$python" "$root/bench/baseline/cover_step.py" time $shape --steps 6 --device cuda \
      --threads "$(nproc)" $precision 2>>"$out/bench-errors.txt"); then
      echo "{\"baseline\":\"$shape $precision\",\"result\":$line}" >>"$out/baseline.jsonl"
    else
      say "baseline $shape $precision failed (bench-errors.txt)"
    fi
  done
done
say "done in $(($(date +%s) - started)) s; $failed failed check(s)"
exit $((failed > 0))
