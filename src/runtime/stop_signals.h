#pragma once
// SIGINT and SIGTERM, received on a thread of their own instead of by a signal handler.
//
// A handler runs on whichever thread the kernel picks, on that thread's stack, at whatever
// instruction it was executing. oneDNN's AVX-512 sgemm kernels (LibTorch's and ours,
// kernels/gemm.h) use rsp as a general register pointing into a heap buffer while they run:
// a signal that lands there has its frame (~3 KiB of saved AVX-512 state) written below that
// pointer, into the heap, and the process later aborts with "corrupted size vs. prev_size"
// or a double free (issue 15). So no thread may ever run a handler for these signals:
// install_stop_signal_watcher() blocks them in the calling thread before any other thread
// exists (every thread inherits the mask) and one watcher thread takes them with sigwait().
//
// While a StopRequestScope is alive (attnlab train), a signal is a request to stop that the
// training loop polls between steps. Outside one, the signal has its default effect: the
// process terminates by it, as if nothing had been installed.

namespace attnlab {

// Call first in main(), before any thread is started (LibTorch's and OpenMP's pools start
// lazily, at the first parallel op). Idempotent. A forked child has no watcher (fork copies
// only the calling thread); a child that execs attnlab installs its own. Processes spawned
// from here would inherit the blocked mask; attnlab spawns none.
void install_stop_signal_watcher();

// True once install_stop_signal_watcher() has run in this process.
bool stop_signal_watcher_installed();

// While alive, SIGINT and SIGTERM set received() instead of terminating the process. A signal
// the owner never saw (it came after the last call of received()) is not lost: when the (last)
// scope ends, it takes its default effect then, terminating the process. Scopes do not nest
// meaningfully: the newest one's received() sees every signal since it began. Without the watcher
// (a program that never installed it) signals keep their default effect and received() stays 0.
class StopRequestScope {
 public:
  StopRequestScope();
  ~StopRequestScope();
  StopRequestScope(const StopRequestScope&) = delete;
  StopRequestScope& operator=(const StopRequestScope&) = delete;

  // The last signal number received since this scope began, 0 if none; a non-zero answer
  // means the owner has seen the stop request.
  int received() const;
};

}  // namespace attnlab
