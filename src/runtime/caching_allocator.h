#pragma once
// A CPU allocator for LibTorch that keeps large freed blocks for reuse.
//
// A training step allocates and frees the same large activations every step. glibc hands
// blocks over its mmap threshold back to the kernel on free, and even below it the heap
// does not reliably reuse freed space for the next request of the same size; every fresh
// page is then faulted in again, which on these VMs costs far more than filling a resident one
// (measured in docs/benchmark.md, "Page faults"). This allocator serves
// requests of at least `min_block` bytes from a cache of freed blocks (best fit, at most
// 1.5x the request), maps new ones with mmap, and returns blocks to the kernel only when the
// cache would exceed `max_cached` bytes. Smaller requests go to malloc (64-byte aligned).

#include <c10/core/Allocator.h>

#include <cstddef>
#include <map>
#include <mutex>

namespace attnlab {

class CachingCpuAllocator final : public c10::Allocator {
 public:
  struct Stats {
    size_t hits = 0;          // large requests served from the cache
    size_t misses = 0;        // large requests that mapped a new block
    size_t in_use_bytes = 0;  // large blocks currently held by tensors
    size_t cached_bytes = 0;  // large blocks free in the cache
    size_t peak_bytes = 0;    // peak of in_use + cached
  };

  explicit CachingCpuAllocator(size_t min_block = size_t(1) << 20, size_t max_cached = size_t(1)
                                                                                       << 30);
  ~CachingCpuAllocator() override;

  c10::DataPtr allocate(size_t bytes) const override;
  c10::DeleterFnPtr raw_deleter() const override;
  Stats stats() const;
  void release_cache();  // returns every cached block to the kernel

 private:
  struct Block;
  static void delete_block(void* data);
  void give_back(Block* block) const;
  void trim_locked(size_t limit) const;

  size_t min_block_, max_cached_;
  mutable std::mutex mutex_;
  mutable std::multimap<size_t, Block*> free_;  // capacity -> cached block
  mutable Stats stats_;
};

// Installs one process-wide CachingCpuAllocator as LibTorch's CPU allocator (idempotent).
// Tensors allocated before keep their own deleter and are freed correctly.
CachingCpuAllocator& install_caching_cpu_allocator();

}  // namespace attnlab
