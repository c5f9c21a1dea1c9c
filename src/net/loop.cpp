#include "net/loop.hpp"

#include <algorithm>
#include <cstdlib>

namespace rmig::net {

Loop::Loop() {
  if (uv_loop_init(&loop_) != 0) std::abort();
  check_ = new uv_check_t{};
  idle_ = new uv_idle_t{};
  uv_check_init(&loop_, check_);
  uv_idle_init(&loop_, idle_);
  check_->data = this;
  uv_check_start(check_, &Loop::on_check);
  // The check handle alone must not keep the loop running.
  uv_unref(reinterpret_cast<uv_handle_t*>(check_));
}

Loop::~Loop() { close(); }

int Loop::close() {
  if (closed_) return 0;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(check_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(idle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
  // Let every pending close callback run.
  uv_run(&loop_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop_);
  if (rc != 0) {
    // Some handle is still open (a bug): close whatever is left so memory is not leaked, then retry.
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  return rc;
}

void Loop::schedule_flush(Flushable& f) {
  if (f.flush_scheduled_) return;
  f.flush_scheduled_ = true;
  if (dirty_.empty()) uv_idle_start(idle_, [](uv_idle_t*) {});
  dirty_.push_back(&f);
}

void Loop::cancel_flush(Flushable& f) noexcept {
  if (!f.flush_scheduled_) return;
  f.flush_scheduled_ = false;
  auto drop = [&](std::vector<Flushable*>& v) { v.erase(std::remove(v.begin(), v.end(), &f), v.end()); };
  drop(dirty_);
  std::replace(flushing_.begin(), flushing_.end(), &f, static_cast<Flushable*>(nullptr));
  if (dirty_.empty()) uv_idle_stop(idle_);
}

void Loop::on_check(uv_check_t* h) noexcept { static_cast<Loop*>(h->data)->flush_all(); }

void Loop::flush_all() noexcept {
  // A flush may schedule more flushes (rarely): loop until nothing is dirty.
  while (!dirty_.empty()) {
    flushing_.swap(dirty_);
    dirty_.clear();
    // The flag is cleared just before each flush, so cancel_flush() from a destructor running meanwhile
    // still finds (and nulls) an entry that has not been flushed yet.
    for (std::size_t i = 0; i < flushing_.size(); ++i) {
      if (Flushable* f = flushing_[i]) {
        f->flush_scheduled_ = false;
        f->flush();
      }
    }
    flushing_.clear();
  }
  uv_idle_stop(idle_);
}

Timer::Timer(Loop& loop, Callback callback) : callback_(std::move(callback)) {
  uv_timer_init(loop.get(), h_.get());
  h_.mark_initialized();
  h_.get()->data = this;
}

void Timer::start(uint64_t timeout_ms, uint64_t repeat_ms) {
  uv_timer_start(
      h_.get(),
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Timer*>(t->data)) self->callback_();
      },
      timeout_ms, repeat_ms);
}

void Timer::stop() noexcept {
  if (h_.open()) uv_timer_stop(h_.get());
}

bool Timer::active() const noexcept { return h_.open() && uv_is_active(h_.handle()) != 0; }

void Timer::unref() noexcept { uv_unref(h_.handle()); }

}  // namespace rmig::net
