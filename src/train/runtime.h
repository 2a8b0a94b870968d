#pragma once
// Process-wide runtime settings for LibTorch on CPU: threads and the heap.
#include <cstdint>

namespace attnlab {

// Applies a thread count (0 = all available cores) to LibTorch's intra-op pool and returns
// the count used. LibTorch picks 1 thread by default on small machines: always call this.
int64_t configure_threads(int64_t requested);

// Keeps freed tensor memory in the heap for reuse. glibc serves blocks over 32 MiB with
// mmap and returns them with munmap, so every large activation of every step is faulted in
// page by page again; on these VMs that made a 32 MiB copy take ~70 ms instead of ~1 ms.
// Raises M_MMAP_THRESHOLD and M_TRIM_THRESHOLD to 1 GiB unless the user set
// MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (or GLIBC_TUNABLES) themselves.
// Call once, before the first tensor is allocated. Returns whether it changed anything.
bool configure_allocator();

}  // namespace attnlab
