// CachingCpuAllocator: reuse of freed large blocks, small requests passed through, trimming.
#include "runtime/caching_allocator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using attnlab::CachingCpuAllocator;

TEST(CachingCpuAllocator, ReusesAFreedBlockForTheSameSizeAndKeepsDataWritable) {
  CachingCpuAllocator allocator(/*min_block=*/1 << 20, /*max_cached=*/64 << 20);
  void* first = nullptr;
  {
    auto a = allocator.allocate(3 << 20);
    first = a.get();
    std::memset(first, 7, 3 << 20);
  }
  auto stats = allocator.stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.in_use_bytes, 0u);
  EXPECT_EQ(stats.cached_bytes, size_t(3) << 20);
  auto b = allocator.allocate(3 << 20);
  EXPECT_EQ(b.get(), first);  // the same block again
  EXPECT_EQ(allocator.stats().hits, 1u);
  // A much smaller (but still large) request does not take a block 1.5x its size or more.
  auto c = allocator.allocate(1 << 20);
  EXPECT_NE(c.get(), first);
  EXPECT_EQ(allocator.stats().misses, 2u);
}

TEST(CachingCpuAllocator, SmallRequestsBypassTheCacheAndRawAllocationWorks) {
  CachingCpuAllocator allocator(1 << 20, 64 << 20);
  {
    auto small = allocator.allocate(4096);
    ASSERT_NE(small.get(), nullptr);
    std::memset(small.get(), 1, 4096);
  }
  const auto stats = allocator.stats();
  EXPECT_EQ(stats.hits + stats.misses, 0u);
  EXPECT_EQ(stats.cached_bytes, 0u);
  // LibTorch's raw path (context == data, freed through raw_deleter) for both kinds.
  for (size_t bytes : {size_t(100), size_t(2) << 20}) {
    void* p = allocator.raw_allocate(bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    std::memset(p, 3, bytes);
    allocator.raw_deallocate(p);
  }
  EXPECT_EQ(allocator.stats().cached_bytes, size_t(2) << 20);
}

TEST(CachingCpuAllocator, TrimsTheCacheToItsLimitLargestFirst) {
  CachingCpuAllocator allocator(1 << 20, /*max_cached=*/5 << 20);
  {
    auto a = allocator.allocate(4 << 20);
    auto b = allocator.allocate(2 << 20);
    auto c = allocator.allocate(1 << 20);
  }  // 7 MiB freed; the 4 MiB block is unmapped to get under 5 MiB
  EXPECT_EQ(allocator.stats().cached_bytes, size_t(3) << 20);
  allocator.release_cache();
  EXPECT_EQ(allocator.stats().cached_bytes, 0u);
}

TEST(CachingCpuAllocator, InstalledAllocatorServesTensorsCorrectly) {
  auto& allocator = attnlab::install_caching_cpu_allocator();
  const auto before = allocator.stats();
  for (int i = 0; i < 3; ++i) {
    auto x = torch::full({512, 1024}, 2.0f);  // 2 MiB
    auto y = x * 3.0f;
    EXPECT_EQ(y.sum().item<double>(), 6.0 * 512 * 1024);
  }
  const auto after = allocator.stats();
  EXPECT_GT(after.hits, before.hits);  // later iterations reuse the first one's blocks
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

// In an AddressSanitizer build (docs/development.md, "Sanitizers") ASan must see what the
// cache hides from it: the slack past a request, and a whole block once it is cached.
TEST(CachingCpuAllocator, UnderAddressSanitizerFreedAndSlackBytesArePoisoned) {
#if !defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "not an AddressSanitizer build";
#else
  CachingCpuAllocator allocator(/*min_block=*/1 << 20, /*max_cached=*/64 << 20);
  constexpr size_t kBytes = (size_t(3) << 20) + 13;  // not a multiple of the 64 KiB granule
  char* data = nullptr;
  {
    auto a = allocator.allocate(kBytes);
    data = static_cast<char*>(a.get());
    EXPECT_EQ(__asan_region_is_poisoned(data, kBytes), nullptr);  // all of it usable
    EXPECT_TRUE(__asan_address_is_poisoned(data + kBytes));       // one past the end
  }
  EXPECT_TRUE(__asan_address_is_poisoned(data));  // cached: a read would be reported
  EXPECT_TRUE(__asan_address_is_poisoned(data + kBytes / 2));
  auto again = allocator.allocate(kBytes - 100);
  ASSERT_EQ(again.get(), data);  // the same block, usable again up to the new size only
  EXPECT_EQ(__asan_region_is_poisoned(data, kBytes - 100), nullptr);
  EXPECT_TRUE(__asan_address_is_poisoned(data + kBytes - 100));
#endif
}
