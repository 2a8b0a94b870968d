#include "runtime/caching_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

// Under AddressSanitizer, ASan knows nothing of memory we map ourselves: a cached block would
// hide a use after free, and the slack between a request and its block's capacity an overflow.
// So everything past the request is poisoned while a block is in use, and the
// whole block while it is cached (no-ops in other builds).
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ATTNLAB_POISON(address, bytes) ASAN_POISON_MEMORY_REGION(address, bytes)
#define ATTNLAB_UNPOISON(address, bytes) ASAN_UNPOISON_MEMORY_REGION(address, bytes)
#else
#define ATTNLAB_POISON(address, bytes) ((void)(address), (void)(bytes))
#define ATTNLAB_UNPOISON(address, bytes) ((void)(address), (void)(bytes))
#endif

namespace attnlab {

// Lives in the first 64 bytes of its own mapping; the tensor's data starts right after it
// (64-byte aligned), so the data pointer alone leads back to the block. LibTorch's raw
// allocation path requires DataPtr context == data pointer.
struct CachingCpuAllocator::Block {
  size_t capacity;                   // usable bytes after the header
  const CachingCpuAllocator* owner;  // null: a small block from malloc, freed with free()
  void* data() { return reinterpret_cast<char*>(this) + kHeader; }
  static Block* of(void* data) {
    return reinterpret_cast<Block*>(static_cast<char*>(data) - kHeader);
  }
  static constexpr size_t kHeader = 64;
};

namespace {
constexpr size_t kGranule = size_t(64) << 10;  // capacities are multiples of 64 KiB

void* map_pages(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
}  // namespace

CachingCpuAllocator::CachingCpuAllocator(size_t min_block, size_t max_cached)
    : min_block_(std::max(min_block, kGranule)), max_cached_(max_cached) {}

CachingCpuAllocator::~CachingCpuAllocator() { release_cache(); }

c10::DataPtr CachingCpuAllocator::allocate(size_t bytes) const {
  if (bytes < min_block_) {
    void* memory = nullptr;
    TORCH_CHECK(posix_memalign(&memory, Block::kHeader, bytes + Block::kHeader) == 0,
                "CachingCpuAllocator: out of memory allocating ", bytes, " bytes");
    auto* block = new (memory) Block{bytes, nullptr};
    return {block->data(), block->data(), &CachingCpuAllocator::delete_block,
            c10::Device(c10::kCPU)};
  }
  const size_t capacity = (bytes + kGranule - 1) / kGranule * kGranule;
  std::unique_lock<std::mutex> lock(mutex_);
  Block* block = nullptr;
  auto it = free_.lower_bound(capacity);
  if (it != free_.end() && it->first <= capacity + capacity / 2) {
    block = it->second;
    free_.erase(it);
    stats_.cached_bytes -= block->capacity;
    stats_.hits += 1;
  } else {
    stats_.misses += 1;
    lock.unlock();  // mmap and its page-table work without holding the lock
    void* pages = map_pages(capacity + Block::kHeader);
    lock.lock();
    if (!pages) {  // out of address space or memory: drop the cache and try once more
      trim_locked(0);
      pages = map_pages(capacity + Block::kHeader);
    }
    TORCH_CHECK(pages, "CachingCpuAllocator: out of memory allocating ", bytes, " bytes");
    block = new (pages) Block{capacity, this};
  }
  stats_.in_use_bytes += block->capacity;
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.in_use_bytes + stats_.cached_bytes);
  ATTNLAB_UNPOISON(block->data(), bytes);
  ATTNLAB_POISON(static_cast<char*>(block->data()) + bytes, block->capacity - bytes);
  return {block->data(), block->data(), &CachingCpuAllocator::delete_block, c10::Device(c10::kCPU)};
}

c10::DeleterFnPtr CachingCpuAllocator::raw_deleter() const { return &delete_block; }

void CachingCpuAllocator::delete_block(void* data) {
  if (!data) return;
  Block* block = Block::of(data);
  if (block->owner)
    block->owner->give_back(block);
  else
    std::free(block);
}

void CachingCpuAllocator::give_back(Block* block) const {
  ATTNLAB_POISON(block->data(), block->capacity);  // a read of a freed tensor is reported
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.in_use_bytes -= block->capacity;
  stats_.cached_bytes += block->capacity;
  free_.emplace(block->capacity, block);
  if (stats_.cached_bytes > max_cached_) trim_locked(max_cached_);
}

// Unmaps cached blocks, largest first, until at most `limit` bytes stay cached.
void CachingCpuAllocator::trim_locked(size_t limit) const {
  while (stats_.cached_bytes > limit && !free_.empty()) {
    auto last = std::prev(free_.end());
    Block* block = last->second;
    free_.erase(last);
    stats_.cached_bytes -= block->capacity;
    ATTNLAB_UNPOISON(block, block->capacity + Block::kHeader);  // the pages may be mapped again
    munmap(block, block->capacity + Block::kHeader);
  }
}

CachingCpuAllocator::Stats CachingCpuAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingCpuAllocator::release_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  trim_locked(0);
}

CachingCpuAllocator& install_caching_cpu_allocator() {
  // Never destroyed: tensors freed during static destruction still find their allocator.
  static auto* allocator = [] {
    auto* a = new CachingCpuAllocator();
    c10::SetCPUAllocator(a, /*priority=*/10);
    return a;
  }();
  return *allocator;
}

}  // namespace attnlab
