// TEMPORARY stand-in for src/engine/notifications.cpp until the notification feed lands: delete this file
// when merging it. It subscribes to nothing: subscribed() and barrier_done() follow at once, no change is
// ever reported, and prove_notifications() refuses (nothing is proven).
#include <memory>

#include "engine/notifications.hpp"

namespace rmig::engine {

class NotificationFeed::Impl {
 public:
  Impl(net::Loop& loop, FeedEvents& events)
      : events_(events),
        subscribed_(loop, [this] { events_.subscribed(); }),
        barrier_(loop, [this] { events_.barrier_done(); }) {}
  FeedEvents& events_;
  net::Timer subscribed_;
  net::Timer barrier_;
};

NotificationFeed::NotificationFeed(net::Loop& loop, FeedOptions /*options*/, FeedEvents& events)
    : impl_(std::make_unique<Impl>(loop, events)) {}
NotificationFeed::~NotificationFeed() = default;
void NotificationFeed::start() { impl_->subscribed_.start(1); }
void NotificationFeed::barrier() { impl_->barrier_.start(1); }
void NotificationFeed::stop() {
  impl_->subscribed_.stop();
  impl_->barrier_.stop();
}
std::vector<std::string> NotificationFeed::nodes() const { return {}; }

Status prove_notifications(net::Loop& /*loop*/, const FeedOptions& /*options*/,
                           const std::string& /*probe_prefix*/, uint32_t /*timeout_ms*/) {
  return make_error(ExitCode::kUsage, "keyspace notifications cannot be proven by this build");
}

}  // namespace rmig::engine
