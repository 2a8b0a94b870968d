#pragma once
// Process-wide runtime settings for LibTorch on CPU: threads and the heap.
#include <cstdint>

namespace attnlab {

// The cores this process may run on (its CPU affinity mask, which taskset and cgroup cpusets
// narrow; std::thread::hardware_concurrency counts every core of the machine).
int64_t available_cores();

// Applies a thread count (0 = available_cores()) to LibTorch's intra-op pool and returns the
// count used. LibTorch picks 1 thread by default on small machines: always call this. The one
// count serves every pool that computes: LibTorch's OpenMP team (at::parallel_for, our kernels),
// oneDNN (built on the same OpenMP) and OpenBLAS (set through openblas_set_num_threads when
// libblas.so.3 is OpenBLAS: it keeps a count of its own). Call from the main thread.
int64_t configure_threads(int64_t requested);

// Keeps freed memory for reuse instead of faulting fresh pages in every step (page faults are
// slow on these VMs: docs/benchmark.md, "Page faults"). Installs CachingCpuAllocator
// (runtime/caching_allocator.h) for tensors of 1 MiB and more, and raises glibc's
// M_MMAP_THRESHOLD / M_TRIM_THRESHOLD to 1 GiB for the rest unless the user set
// MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (or GLIBC_TUNABLES) themselves.
// Call once, before the first tensor is allocated. Returns whether mallopt was applied.
bool configure_allocator();

}  // namespace attnlab
