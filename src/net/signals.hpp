#pragma once
// SIGINT, SIGTERM and SIGHUP on the loop (a closed terminal or a dropped SSH session ends a run like
// SIGTERM). The watcher is unreferenced: it never keeps the loop alive by itself.

#include <uv.h>

#include <functional>

#include "net/loop.hpp"

namespace rmig::net {

class SignalWatcher {
 public:
  using Callback = std::function<void(int signum)>;
  SignalWatcher(Loop& loop, Callback cb);
  ~SignalWatcher() = default;
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  void close() noexcept {
    int_.close();
    term_.close();
    hup_.close();
  }

 private:
  static void on_signal(uv_signal_t* h, int signum) noexcept;
  Callback cb_;
  UvHandle<uv_signal_t> int_;
  UvHandle<uv_signal_t> term_;
  UvHandle<uv_signal_t> hup_;
};

}  // namespace rmig::net
