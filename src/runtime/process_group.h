#pragma once
// Data-parallel processes on PyTorch's c10d with its Gloo backend (TCP), joined the way torchrun
// launches them: `torchrun --nproc_per_node N --no_python attnlab train ...`
// (docs/training.md, "Data-parallel training (torchrun)").
// Without torchrun's variables a process is a group of one, and every collective returns at once.

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace attnlab {

// A collective or the rendezvous failed: a peer died, hung past the timeout or never came. The
// group is unusable afterwards; the message names this rank and the operation.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What torchrun sets in each worker's environment (torch/distributed/elastic/agent/server/
// local_elastic_agent.py in PyTorch 1.13).
struct LaunchEnv {
  int rank = 0;              // RANK: this process among all
  int world_size = 1;        // WORLD_SIZE: processes in all
  int local_rank = 0;        // LOCAL_RANK: this process among those on this machine
  int local_world_size = 1;  // LOCAL_WORLD_SIZE: processes on this machine
  std::string master_addr;   // MASTER_ADDR: host of the rendezvous store
  int master_port = 0;       // MASTER_PORT: its port
  bool agent_store = false;  // TORCHELASTIC_USE_AGENT_STORE=True: torchrun itself serves the store
  int restart_count = 0;     // TORCHELASTIC_RESTART_COUNT: restarts (--max_restarts) so far

  bool distributed() const { return world_size > 1; }
};

// Reads those variables; none set gives a group of one. A malformed or inconsistent value
// throws std::invalid_argument naming the variable (a launcher bug, reported before any work).
LaunchEnv launch_env_from_environment();

class ProcessGroup {
 public:
  // Joins the group `env` describes; a group of one needs nothing. Rendezvous through a TCP
  // store at MASTER_ADDR:MASTER_PORT (torchrun's own when it serves one, else rank 0's), then a
  // Gloo group over TCP: loopback when every rank is on this machine, else the interface in
  // GLOO_SOCKET_IFNAME or the one this host name resolves to. `timeout` bounds the rendezvous
  // and every collective. Throws DistributedError.
  ProcessGroup(const LaunchEnv& env, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const LaunchEnv& env() const { return env_; }

  // Sums a contiguous CPU tensor over all ranks, in place; `what` names it in errors
  // ("gradients of step 12"). Throws DistributedError.
  void all_reduce_sum(at::Tensor& tensor, const std::string& what);
  // Overwrites `tensor` with rank `root`'s. Throws DistributedError.
  void broadcast(at::Tensor& tensor, int root, const std::string& what);

 private:
  struct Gloo;
  std::string who() const;  // "rank R of W"
  [[noreturn]] void fail(const std::string& action, const std::exception& error) const;
  // Runs `collective` (on a one-tensor vector) and waits; checks the tensor, names `action` in
  // errors. Nothing in a group of one.
  template <typename Collective>
  void run(at::Tensor& tensor, const std::string& action, Collective collective);

  LaunchEnv env_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Gloo> gloo_;  // null in a group of one
};

}  // namespace attnlab
