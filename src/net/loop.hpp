#pragma once
// The one event loop of a run, plus the write-batching scheduler: connections queue commands during a loop
// iteration and are flushed once, after the I/O callbacks (uv_check), so a burst of commands costs one write
// syscall, not one per command. An idle handle is active only while something waits to be flushed, so the
// loop does not block in poll with unflushed output.

#include <uv.h>

#include <functional>
#include <vector>

namespace rmig::net {

class Loop;

class Flushable {
 public:
  virtual void flush() = 0;

 protected:
  Flushable() = default;
  virtual ~Flushable() = default;
  Flushable(const Flushable&) = delete;
  Flushable& operator=(const Flushable&) = delete;

 private:
  friend class Loop;
  bool flush_scheduled_ = false;
};

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* get() noexcept { return &loop_; }

  void schedule_flush(Flushable& f);
  void cancel_flush(Flushable& f) noexcept;

  // Runs until no active handle is left (uv_run DEFAULT).
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  // Runs one iteration, blocking for I/O when there is nothing else to do.
  void run_once() { uv_run(&loop_, UV_RUN_ONCE); }
  // Closes the loop; returns uv_loop_close's result (0 when every handle was closed).
  int close();

 private:
  static void on_check(uv_check_t* h) noexcept;
  void flush_all() noexcept;

  uv_loop_t loop_{};
  uv_check_t* check_ = nullptr;  // heap: freed in the close callback
  uv_idle_t* idle_ = nullptr;
  std::vector<Flushable*> dirty_;
  std::vector<Flushable*> flushing_;
  bool closed_ = false;
};

// Owns one libuv handle of type H on the heap. libuv keeps the handle's address until its close callback
// runs, so the memory is released there, never in the destructor. Non-copyable and non-movable.
template <class H>
class UvHandle {
 public:
  UvHandle() : h_(new H{}) {}
  ~UvHandle() { close(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  H* get() const noexcept { return h_; }
  uv_handle_t* handle() const noexcept { return reinterpret_cast<uv_handle_t*>(h_); }
  bool open() const noexcept { return h_ != nullptr; }

  // Detaches the owner (callbacks that arrive later see data == nullptr) and closes the handle.
  void close() noexcept {
    if (h_ == nullptr) return;
    h_->data = nullptr;
    if (initialized_) {
      uv_close(handle(), [](uv_handle_t* h) { delete reinterpret_cast<H*>(h); });
    } else {
      delete h_;
    }
    h_ = nullptr;
  }
  // Records that uv_*_init succeeded; until then close() just frees the memory.
  void mark_initialized() noexcept { initialized_ = true; }

 private:
  H* h_;
  bool initialized_ = false;
};

// A one-shot or repeating timer on the loop. The callback runs on the loop thread, never after the timer is
// stopped or destroyed; it may be stopped or restarted from inside its callback, not destroyed there.
// Non-copyable and non-movable.
class Timer {
 public:
  using Callback = std::function<void()>;
  Timer(Loop& loop, Callback callback);
  // Calls owner->method(): Timer timer_{loop, this, &Owner::on_timer}.
  template <class T>
  Timer(Loop& loop, T* owner, void (T::*method)())
      : Timer(loop, Callback([owner, method] { (owner->*method)(); })) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start(uint64_t timeout_ms, uint64_t repeat_ms = 0);
  void stop() noexcept;
  bool active() const noexcept;
  // An unreferenced timer does not keep the loop alive (progress lines, lease renewals).
  void unref() noexcept;

 private:
  UvHandle<uv_timer_t> h_;
  Callback callback_;
};

}  // namespace rmig::net
