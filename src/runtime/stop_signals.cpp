#include "runtime/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

namespace attnlab {
namespace {

std::atomic<bool> g_installed{false};
std::atomic<int> g_scopes{0};    // live StopRequestScopes
std::atomic<int> g_received{0};  // last signal taken while a scope was alive

sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Restores the default action and delivers the signal to this thread alone (the only one
// that unblocks it): the process ends as it would have without attnlab's watcher.
[[noreturn]] void terminate_by(int signal) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal, &action, nullptr);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signal);
  ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  ::raise(signal);  // pending on this thread, delivered as the mask opens
  ::_exit(128 + signal);  // not reached: the default action of both signals terminates
}

void watch(sigset_t set) {
  for (;;) {
    int signal = 0;
    if (::sigwait(&set, &signal) != 0) continue;
    if (g_scopes.load() > 0)
      g_received.store(signal);
    else
      terminate_by(signal);
  }
}

}  // namespace

void install_stop_signal_watcher() {
  bool expected = false;
  if (!g_installed.compare_exchange_strong(expected, true)) return;
  const sigset_t set = stop_signal_set();
  const int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0)
    throw std::runtime_error(std::string("cannot block SIGINT/SIGTERM: ") + std::strerror(err));
  std::thread(watch, set).detach();  // blocked in sigwait() until the process ends
}

bool stop_signal_watcher_installed() { return g_installed.load(); }

StopRequestScope::StopRequestScope() {
  g_received.store(0);
  g_scopes.fetch_add(1);
}

StopRequestScope::~StopRequestScope() { g_scopes.fetch_sub(1); }

int StopRequestScope::received() const { return g_received.load(); }

}  // namespace attnlab
