#include "train/threads.h"

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>

namespace attnlab {

int64_t configure_threads(int64_t requested) {
  const int64_t available = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t threads = requested > 0 ? requested : available;
  at::set_num_threads(static_cast<int>(threads));
  return threads;
}

}  // namespace attnlab
