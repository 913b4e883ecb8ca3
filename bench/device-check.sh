#!/usr/bin/env bash
# On an NVIDIA machine with CUDA and PyTorch and no network: find NVIDIA's OpenCL, build the benchmark, and compare clsoftmax with torch on the same shapes.
#
# Usage: bench/device-check.sh [benchmark options, e.g. --reps 50]
# Builds in build-device/ and leaves the benchmark's CSV there. Installs nothing and
# changes nothing outside build-device/. Exits non-zero, after saying what it found, when
# NVIDIA's OpenCL driver, an OpenCL loader or headers, the build or torch is missing.
# Overrides: NVIDIA_OPENCL_LIB (the driver library), CUDA_HOME, CLSM_DEVICE (default
# "nvidia"), PYTHON (default python3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-device
cuda=${CUDA_HOME:-/usr/local/cuda}
python=${PYTHON:-python3}
export CLSM_DEVICE=${CLSM_DEVICE:-nvidia}
# As bench/run: OpenMP threads that spin slow the host C peer when the machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

say() { printf '%s\n' "$*"; }
fail() {
    say "device-check: FAILED: $*"
    exit 1
}

# The first of the given paths that exists, or nothing.
first_existing() {
    local path
    for path in "$@"; do
        if [[ -e $path ]]; then
            printf '%s\n' "$path"
            return
        fi
    done
}

# The path ldconfig's cache gives for a library name, or nothing.
ldconfig_path() {
    local ldconfig
    ldconfig=$(command -v ldconfig || first_existing /sbin/ldconfig /usr/sbin/ldconfig)
    [[ -n $ldconfig ]] || return 0
    "$ldconfig" -p 2>/dev/null | awk -v lib="$1" '$1 == lib { print $NF; exit }'
}

# Where driver libraries usually are: distribution paths, the NVIDIA container runtime's, and
# LD_LIBRARY_PATH.
library_dirs() {
    local dirs=(/usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib
        /usr/local/nvidia/lib64 /usr/local/nvidia/lib)
    local extra
    IFS=: read -r -a extra <<<"${LD_LIBRARY_PATH:-}"
    printf '%s\n' "${dirs[@]}" "${extra[@]}"
}

say "== 1. NVIDIA's OpenCL driver"
if command -v nvidia-smi >/dev/null; then
    say "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -n 4)"
else
    say "nvidia-smi: not on PATH"
fi

driver=${NVIDIA_OPENCL_LIB:-}
if [[ -z $driver && -f /etc/OpenCL/vendors/nvidia.icd ]]; then
    say "found /etc/OpenCL/vendors/nvidia.icd, naming: $(head -n 1 /etc/OpenCL/vendors/nvidia.icd)"
    say "the OpenCL loader reads it by default"
else
    if [[ -z $driver ]]; then
        say "no /etc/OpenCL/vendors/nvidia.icd (that directory holds: $(find /etc/OpenCL/vendors -maxdepth 1 -name '*.icd' -printf '%f ' 2>/dev/null))"
        driver=$(ldconfig_path libnvidia-opencl.so.1)
        say "ldconfig cache: ${driver:-no libnvidia-opencl.so.1}"
    fi
    if [[ -z $driver ]]; then
        mapfile -t candidates < <(library_dirs | sed 's|$|/libnvidia-opencl.so.1|')
        driver=$(first_existing "${candidates[@]}")
        if [[ -z $driver ]]; then
            say "not found in: $(library_dirs | tr '\n' ' ')"
            libcuda=$(ldconfig_path libcuda.so.1)
            say "libcuda.so.1 (the CUDA driver): ${libcuda:-not in the ldconfig cache either}"
            say "NVIDIA_DRIVER_CAPABILITIES: ${NVIDIA_DRIVER_CAPABILITIES:-unset}" \
                "(in a container, the NVIDIA runtime mounts only the driver libraries these name)"
            fail "NVIDIA's OpenCL driver (libnvidia-opencl.so.1) is not on this machine;" \
                "set NVIDIA_OPENCL_LIB to its path if it is somewhere else"
        fi
    fi
    [[ -r $driver ]] || fail "NVIDIA_OPENCL_LIB=$driver cannot be read"
    # A private vendors directory naming only this driver; both common loaders read it.
    mkdir -p "$build/vendors"
    printf '%s\n' "$driver" >"$build/vendors/nvidia.icd"
    export OCL_ICD_VENDORS=$build/vendors OPENCL_VENDOR_PATH=$build/vendors
    say "using $driver through $build/vendors/nvidia.icd (OCL_ICD_VENDORS)"
fi

say
say "== 2. OpenCL loader and headers (the system's if present, else the CUDA toolkit's)"
mapfile -t loaders < <(library_dirs | sed 's|$|/libOpenCL.so|; p; s|$|.1|')
loader=$(first_existing "${loaders[@]}" "$cuda/lib64/libOpenCL.so" "$cuda/lib64/libOpenCL.so.1" \
    "$cuda/targets/x86_64-linux/lib/libOpenCL.so" "$cuda/targets/sbsa-linux/lib/libOpenCL.so")
headers=$(first_existing /usr/include/CL/cl.h "$cuda/include/CL/cl.h" \
    "$cuda/targets/x86_64-linux/include/CL/cl.h" "$cuda/targets/sbsa-linux/include/CL/cl.h")
say "loader:  ${loader:-none in $(library_dirs | tr '\n' ' ') or $cuda}"
say "headers: ${headers:-no CL/cl.h in /usr/include or $cuda/include}"
[[ -n $loader && -n $headers ]] || fail "no OpenCL loader or headers to build against"
for tool in cmake "${CC:-cc}" "$python"; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
# Before the build, so that a machine without torch fails in seconds.
torch_found=$("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda,
      "device:", "yes" if torch.cuda.is_available() else "none")' 2>&1) ||
    fail "$python cannot import torch: $torch_found"
say "torch:   $torch_found"
[[ $torch_found == *"device: yes"* ]] || fail "torch sees no CUDA device"

say
say "== 3. Build (Release) in $build"
generator=()
if ! command -v make >/dev/null && command -v ninja >/dev/null; then
    generator=(-G Ninja)
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCLSM_BUILD_TESTS=OFF -DCLSM_BUILD_BENCH=ON \
    -DOpenCL_INCLUDE_DIR="$(dirname "$(dirname "$headers")")" -DOpenCL_LIBRARY="$loader" ||
    fail "cmake configure"
cmake --build "$build" --target clsoftmax-bench -j"$(nproc)" || fail "cmake build"
bench=$build/bench/clsoftmax-bench

say
say "== 4. Does clsoftmax find the device? (CLSM_DEVICE=$CLSM_DEVICE)"
probe() { "$bench" --quick --reps 1 2>&1; }
if ! out=$(probe) && [[ -n ${OCL_ICD_VENDORS:-} ]]; then
    say "$out"
    say "trying again with OCL_ICD_FILENAMES=$driver, for loaders that read only that"
    export OCL_ICD_FILENAMES=$driver
fi
if ! out=$(probe); then
    say "$out"
    say "OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-unset}; the benchmark loads: $(ldd "$bench" | grep -i opencl)"
    command -v clinfo >/dev/null && { say "clinfo -l:"; clinfo -l 2>&1 || true; }
    fail "clsoftmax found no OpenCL device named like '$CLSM_DEVICE'. For the loader's own" \
        "trace, set OCL_ICD_DEBUG=15 (ocl-icd) or OCL_ICD_ENABLE_TRACE=1 (Khronos loader)."
fi
say "$out" | sed -n '2,4p'

say
say "== 5. clsoftmax-bench on its default shapes, then torch on the same, in this run"
csv=$build/device-check.csv
"$bench" --csv "$@" >"$csv" || fail "clsoftmax-bench (its CSV so far: $csv)"
"$python" "$root/bench/torch_softmax.py" "$csv" || fail "the torch comparison"
say
say "== 6. The sampling table on the device (bench/python_sample.py puts torch beside it where"
say "   the clsoftmax Python package can be installed)"
"$bench" --sampling "$@" || fail "clsoftmax-bench --sampling"
say
say "device-check: done; the benchmark's CSV is $csv"
