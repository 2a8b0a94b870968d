#include "runtime/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace attnlab {
namespace {

std::atomic<bool> g_installed{false};
// The watcher's view of the scopes and what it handed them, under one mutex, so that a signal
// is either delivered to a live scope or takes its default effect: never recorded for nobody.
std::mutex g_mutex;
int g_scopes = 0;     // live StopRequestScopes
int g_received = 0;   // last signal taken while a scope was alive
bool g_seen = false;  // received() has returned a signal to the owner since the scope began

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
  ::raise(signal);        // pending on this thread, delivered as the mask opens
  ::_exit(128 + signal);  // not reached: the default action of both signals terminates
}

void watch(sigset_t set) {
  for (;;) {
    int signal = 0;
    if (::sigwait(&set, &signal) != 0) continue;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_scopes == 0) terminate_by(signal);
    g_received = signal;
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
  std::lock_guard<std::mutex> lock(g_mutex);
  g_received = 0;
  g_seen = false;
  ++g_scopes;
}

StopRequestScope::~StopRequestScope() {
  std::unique_lock<std::mutex> lock(g_mutex);
  --g_scopes;
  // A stop request that came after the owner last looked (during its final save, say) and that
  // it never saw was asked for all the same: it takes its default effect now, as it would have
  // outside the scope. (Once the owner has seen one, later signals repeat the same request.)
  if (g_scopes == 0 && g_received != 0 && !g_seen) {
    const int signal = g_received;
    lock.unlock();
    terminate_by(signal);
  }
}

int StopRequestScope::received() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_received != 0) g_seen = true;
  return g_received;
}

}  // namespace attnlab
