#!/usr/bin/env bash
# Installs a complete CUDA LibTorch into DIR (default .cuda-torch): the CUDA 13 build of
# torch 2.14 and the NVIDIA library wheels its metadata names (through cuda-toolkit 13.0.3's
# extras), all --no-deps, from the machine's wheel store. --no-deps on torch alone leaves
# libtorch_cuda.so unable to find cuBLAS, cuDNN, NCCL and the rest; they are siblings of
# torch/ here (torch/lib's RUNPATH points at ../../nvidia/*/lib), so the result loads.
#
#   scripts/provisionCudaTorch.sh [DIR]
#   LIBTORCH=DIR/torch COVER_TORCH_TORCH_SPEC='torch==2.14.*' npm run build:native
set -euo pipefail
dir=${1:-.cuda-torch}
wheels=(
  "torch==2.14.1"
  "nvidia-cublas==13.1.1.3.*"
  "nvidia-cuda-cupti==13.0.85.*"
  "nvidia-cuda-nvrtc==13.0.88.*"
  "nvidia-cuda-runtime==13.0.96.*"
  "nvidia-cufft==12.0.0.61.*"
  "nvidia-cufile==1.15.1.6.*"
  "nvidia-curand==10.4.0.35.*"
  "nvidia-cusolver==12.0.4.66.*"
  "nvidia-cusparse==12.6.3.3.*"
  "nvidia-nvjitlink>=13.0.88,<14"
  "nvidia-nvtx==13.0.85.*"
  "nvidia-cudnn-cu13==9.24.0.43"
  "nvidia-cusparselt-cu13==0.8.1"
  "nvidia-nccl-cu13==2.30.7"
  "nvidia-nvshmem-cu13==3.4.5"
)
if [ -f "$dir/torch/lib/libtorch_cuda.so" ] && [ -d "$dir/nvidia/cudnn" ]; then
  echo "provisionCudaTorch: $dir already holds a CUDA torch"
  exit 0
fi
python3 -m pip install --quiet --no-deps --retries 0 --target "$dir" "${wheels[@]}"
echo "provisionCudaTorch: $dir/torch ($(du -sh "$dir" | cut -f1))"
