#include "net/signals.hpp"

#include <csignal>

namespace rmig::net {

SignalWatcher::SignalWatcher(Loop& loop, Callback cb) : cb_(std::move(cb)) {
  for (auto* h : {&int_, &term_, &hup_}) {
    uv_signal_init(loop.get(), h->get());
    h->mark_initialized();
    h->get()->data = this;
    uv_unref(h->handle());
  }
  uv_signal_start(int_.get(), &SignalWatcher::on_signal, SIGINT);
  uv_signal_start(term_.get(), &SignalWatcher::on_signal, SIGTERM);
  uv_signal_start(hup_.get(), &SignalWatcher::on_signal, SIGHUP);
}

void SignalWatcher::on_signal(uv_signal_t* h, int signum) noexcept {
  auto* self = static_cast<SignalWatcher*>(h->data);
  if (self != nullptr && self->cb_) self->cb_(signum);
}

}  // namespace rmig::net
