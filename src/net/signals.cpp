#include "net/signals.hpp"

#include <csignal>

namespace rmig::net {

namespace {

volatile std::sig_atomic_t g_early_usr1 = 0;

extern "C" void note_usr1(int /*signum*/) { g_early_usr1 = 1; }

}  // namespace

void install_usr1_fallback() noexcept {
  struct sigaction sa {};
  sa.sa_handler = &note_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
}

bool take_early_usr1() noexcept {
  const bool seen = g_early_usr1 != 0;
  g_early_usr1 = 0;
  return seen;
}

SignalWatcher::SignalWatcher(Loop& loop, Callback cb) : cb_(std::move(cb)) {
  for (auto* h : {&int_, &term_, &hup_, &usr1_}) {
    uv_signal_init(loop.get(), h->get());
    h->mark_initialized();
    h->get()->data = this;
    uv_unref(h->handle());
  }
  uv_signal_start(int_.get(), &SignalWatcher::on_signal, SIGINT);
  uv_signal_start(term_.get(), &SignalWatcher::on_signal, SIGTERM);
  uv_signal_start(hup_.get(), &SignalWatcher::on_signal, SIGHUP);
  uv_signal_start(usr1_.get(), &SignalWatcher::on_signal, SIGUSR1);
}

void SignalWatcher::close() noexcept {
  int_.close();
  term_.close();
  hup_.close();
  const bool had_usr1 = usr1_.open();
  usr1_.close();
  // libuv gave SIGUSR1 back its default action (end the process): catch it again.
  if (had_usr1) install_usr1_fallback();
}

void SignalWatcher::on_signal(uv_signal_t* h, int signum) noexcept {
  auto* self = static_cast<SignalWatcher*>(h->data);
  if (self != nullptr && self->cb_) self->cb_(signum);
}

}  // namespace rmig::net
