#pragma once
// SIGINT, SIGTERM and SIGHUP on the loop (a closed terminal or a dropped SSH session ends a run like
// SIGTERM), and SIGUSR1 (a live run's cut-over). The watcher is unreferenced: it never keeps the loop alive
// by itself.
//
// Outside a watcher's life (start-up checks, between passes, the end of a run) SIGUSR1 must not kill the
// process (its default action): install_usr1_fallback() catches it process-wide and only notes it, and a
// closed watcher puts that handler back (libuv restores the default action). take_early_usr1() tells
// whether one arrived meanwhile, once.

#include <uv.h>

#include <functional>

#include "net/loop.hpp"

namespace rmig::net {

class SignalWatcher {
 public:
  using Callback = std::function<void(int signum)>;
  SignalWatcher(Loop& loop, Callback cb);
  ~SignalWatcher() { close(); }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  void close() noexcept;

 private:
  static void on_signal(uv_signal_t* h, int signum) noexcept;
  Callback cb_;
  UvHandle<uv_signal_t> int_;
  UvHandle<uv_signal_t> term_;
  UvHandle<uv_signal_t> hup_;
  UvHandle<uv_signal_t> usr1_;
};

// Catches SIGUSR1 process-wide, outside any SignalWatcher: the signal is noted, nothing else.
void install_usr1_fallback() noexcept;
// Whether SIGUSR1 arrived while no watcher was up since the last call (then clears it).
bool take_early_usr1() noexcept;

}  // namespace rmig::net
