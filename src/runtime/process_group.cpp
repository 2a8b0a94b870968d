#include "runtime/process_group.h"

#include <cstdlib>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

namespace attnlab {
namespace {

// An integer variable in [low, high], or `fallback` when unset.
int int_variable(const char* name, int fallback, int low, int high) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < low || value > high)
    throw std::invalid_argument(std::string(name) + "=" + text + " is not an integer in [" +
                                std::to_string(low) + ", " + std::to_string(high) + "]");
  return static_cast<int>(value);
}

std::string string_variable(const char* name) {
  const char* text = std::getenv(name);
  return text == nullptr ? "" : text;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

LaunchEnv launch_env_from_environment() {
  LaunchEnv env;
  constexpr int kMaxRanks = 1 << 20;
  env.world_size = int_variable("WORLD_SIZE", 1, 1, kMaxRanks);
  env.rank = int_variable("RANK", 0, 0, env.world_size - 1);
  env.local_world_size = int_variable("LOCAL_WORLD_SIZE", 1, 1, env.world_size);
  env.local_rank = int_variable("LOCAL_RANK", 0, 0, env.local_world_size - 1);
  env.restart_count = int_variable("TORCHELASTIC_RESTART_COUNT", 0, 0, kMaxRanks);
  env.agent_store = string_variable("TORCHELASTIC_USE_AGENT_STORE") == "True";
  if (!env.distributed()) return env;
  env.master_addr = string_variable("MASTER_ADDR");
  if (env.master_addr.empty())
    throw std::invalid_argument("WORLD_SIZE=" + std::to_string(env.world_size) +
                                " but MASTER_ADDR is not set (launch with torchrun)");
  env.master_port = int_variable("MASTER_PORT", 0, 1, 65535);
  if (env.master_port == 0)
    throw std::invalid_argument("WORLD_SIZE=" + std::to_string(env.world_size) +
                                " but MASTER_PORT is not set (launch with torchrun)");
  return env;
}

struct ProcessGroup::Gloo {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(const LaunchEnv& env, std::chrono::milliseconds timeout)
    : env_(env), timeout_(timeout) {
  if (!env_.distributed()) return;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(env_.master_port);
    // Under torchrun's default (static) rendezvous its agent already serves this port: every
    // rank is a client. Otherwise (--standalone, a hand launch) rank 0 serves it.
    store_options.isServer = !env_.agent_store && env_.rank == 0;
    store_options.numWorkers = c10::nullopt;
    store_options.waitWorkers = false;
    store_options.timeout = timeout;
    store_options.multiTenant = false;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, store_options);
    // One key space per attempt, as PyTorch's env:// does: a restart never reads the last one's.
    auto store = c10::make_intrusive<c10d::PrefixStore>(
        "/worker/attempt_" + std::to_string(env_.restart_count), tcp);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    const std::string interface = string_variable("GLOO_SOCKET_IFNAME");
    if (!interface.empty())
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    else if (env_.local_world_size == env_.world_size)
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 2;
    gloo_ = std::make_unique<Gloo>();
    gloo_->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(store, env_.rank, env_.world_size, options);
  } catch (const std::exception& e) {
    throw DistributedError(who() + ": cannot join the process group at " + env_.master_addr + ":" +
                           std::to_string(env_.master_port) + " within " +
                           std::to_string(timeout.count() / 1000) +
                           " s (run.dist_timeout_s): " + first_line(e.what()));
  }
}

ProcessGroup::~ProcessGroup() = default;

std::string ProcessGroup::who() const {
  return "rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size);
}

void ProcessGroup::fail(const std::string& action, const std::exception& error) const {
  throw DistributedError(who() + ": " + action + " failed (a rank died, or hung for more than " +
                         std::to_string(timeout_.count() / 1000) +
                         " s): " + first_line(error.what()));
}

template <typename Collective>
void ProcessGroup::run(at::Tensor& tensor, const std::string& action, Collective collective) {
  if (!gloo_) return;
  TORCH_CHECK(tensor.is_contiguous() && tensor.device().is_cpu(), "ProcessGroup: ", action,
              " needs a contiguous CPU tensor");
  try {
    std::vector<at::Tensor> tensors{tensor};
    collective(tensors)->wait();
  } catch (const std::exception& e) {
    fail(action, e);
  }
}

void ProcessGroup::all_reduce_sum(at::Tensor& tensor, const std::string& what) {
  run(tensor, "summing " + what + " across ranks", [&](std::vector<at::Tensor>& tensors) {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    return gloo_->group->allreduce(tensors, options);
  });
}

void ProcessGroup::broadcast(at::Tensor& tensor, int root, const std::string& what) {
  run(tensor, "receiving " + what + " from rank " + std::to_string(root),
      [&](std::vector<at::Tensor>& tensors) {
        c10d::BroadcastOptions options;
        options.rootRank = root;
        return gloo_->group->broadcast(tensors, options);
      });
}

}  // namespace attnlab
