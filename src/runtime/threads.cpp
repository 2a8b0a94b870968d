#include "runtime/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>

#include "runtime/caching_allocator.h"

namespace attnlab {

int64_t available_cores() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) return 1;
  return std::max(1, CPU_COUNT(&mask));
}

int64_t configure_threads(int64_t requested) {
  const int64_t threads = requested > 0 ? requested : available_cores();
  at::set_num_threads(static_cast<int>(threads));
  // OpenBLAS (LibTorch's double and some float BLAS calls) keeps a count of its own; it is
  // looked up at run time because libblas.so.3 may be another BLAS.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(static_cast<int>(threads));
  return threads;
}

bool configure_allocator() {
  install_caching_cpu_allocator();  // large tensors: cached, never faulted in twice
  // Everything else (small tensors, std::vector, OpenBLAS buffers) stays on glibc's heap:
  // keep freed memory there instead of unmapping and re-faulting it.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") ||
      std::getenv("GLIBC_TUNABLES"))
    return false;
  constexpr int kOneGiB = 1 << 30;
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, kOneGiB) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, kOneGiB) == 1;
  return mmap_ok && trim_ok;
}

}  // namespace attnlab
