#include "copy/plan_task.hpp"

#include "copy/merge.hpp"
#include "copy/ttl.hpp"
#include "value/kind.hpp"

namespace rmig::copy {

namespace {
constexpr std::size_t kCollisionsKept = 20;
}

PlanStats& PlanStats::operator+=(const PlanStats& o) {
  for (const auto& [k, v] : o.by_type)
    by_type[k] += v;
  for (const auto& [k, v] : o.by_rule)
    by_rule[k] += v;
  for (const auto& [k, v] : o.actions)
    actions[k] += v;
  for (const auto& c : o.collisions) {
    if (collisions.size() < kCollisionsKept) collisions.push_back(c);
  }
  collision_count += o.collision_count;
  field_ttl_hashes += o.field_ttl_hashes;
  collisions_partial = collisions_partial || o.collisions_partial;
  return *this;
}

void PlanTask::attach(engine::Engine& engine) {
  engine_ = &engine;
  fetch_.attach(engine);
  const auto& rules = engine.options().selection.rename;
  if (rules && !rules->empty()) {
    detector_ = std::make_unique<select::CollisionDetector>(*rules, engine.options().selection.renamed_only);
  }
}

void PlanTask::start(uint32_t j) {
  engine_->job(j).stage = kStageFetch;
  fetch_.reset(j);
  fetch_.start(j);
}

void PlanTask::resend(uint32_t j) {
  if (engine_->job(j).stage == kStageType) return destination_type(j);
  fetch_.resend(j);
}

void PlanTask::big_key(uint32_t j) {
  if (detector_) check_collision(j);
  destination_type(j);
}

void PlanTask::fetched(uint32_t j) {
  engine::Job& job = engine_->job(j);
  const TtlPlan plan = plan_ttl(job.pttl, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - job.sent_at)
                                              .count());
  if (plan.kind == TtlPlan::Kind::kExpired) {
    ++engine_->counters(j).expired;
    engine_->add_example(j, "expired");
    return engine_->done(j);
  }
  if (detector_) check_collision(j);
  destination_type(j);
}

void PlanTask::check_collision(uint32_t j) {
  if (stats_.collisions_partial) return;
  if (detector_->memory_bytes() > detector_bytes_) {
    stats_.collisions_partial = true;  // bounded memory: the copy still checks what it writes
    return;
  }
  const engine::Job& job = engine_->job(j);
  const auto& rules = *engine_->options().selection.rename;
  std::optional<select::Collision> c;
  if (job.rule() >= 0 && job.target() != job.key) {
    c = detector_->add_renamed(job.key, job.target());
  } else if (rules.may_produce(job.key)) {
    c = detector_->add_kept(job.key);
  }
  if (c) {
    ++stats_.collision_count;
    if (stats_.collisions.size() < kCollisionsKept) stats_.collisions.push_back(std::move(*c));
  }
}

void PlanTask::destination_type(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageType;
  // EXISTS is enough (and all a minimal ACL user may have), except for a merge, which depends on the type.
  const bool merge = engine_->options().conflict == engine::ConflictPolicy::kMerge;
  const std::string_view args[] = {merge ? "TYPE" : "EXISTS", job.target()};
  engine_->send(j, engine::Engine::Side::kDestination, args, 2, kOwnOps.at(0));
}

void PlanTask::on_reply(uint32_t j, uint8_t op, resp::Reply reply) {
  if (fetch_.owns(op)) {
    switch (fetch_.on_reply(j, op, reply)) {
      case FetchStage::Step::kFetched: return fetched(j);
      case FetchStage::Step::kBigKey: return big_key(j);
      case FetchStage::Step::kWait: return;
      case FetchStage::Step::kGone:  // a live run's job only (--live refuses --dry-run)
        ++engine_->counters(j).vanished;
        return engine_->done(j);
    }
  }
  if (kOwnOps.owns(op)) on_type(j, reply.get());
}

void PlanTask::on_type(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  report::Counters& c = engine_->counters(j);
  const char* command = engine_->options().conflict == engine::ConflictPolicy::kMerge ? "TYPE" : "EXISTS";
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (!engine_->handle_error(j, engine::Engine::Side::kDestination, command, msg)) {
      engine_->fail_key(j, std::string(command) + ": " + msg);
    }
    return;
  }
  if (job.maybe_duplicate) {
    ++c.duplicates;
    --c.scanned;
    return engine_->done(j);
  }
  // A big key was not DUMPed: its size check asked its TYPE.
  const uint64_t big_size = fetch_.big_size(j);
  const value::Kind kind =
      big_size != 0 ? value::type_kind(job.type) : value::payload_kind(job.payload_view());
  ++stats_.by_type[value::kind_name(kind)];
  if (big_size == 0 && value::payload_has_field_ttls(job.payload_view())) ++stats_.field_ttl_hashes;
  ++stats_.by_rule[job.rule()];
  const std::string_view dst_type = resp::text(r);
  const bool exists = resp::is_integer(r) ? r->integer > 0 : !dst_type.empty() && dst_type != "none";
  const char* action = "copy";
  if (exists) {
    ++c.existing;
    switch (engine_->options().conflict) {
      case engine::ConflictPolicy::kSkip: action = "skip (exists)"; break;
      case engine::ConflictPolicy::kReplace: action = "replace (exists)"; break;
      case engine::ConflictPolicy::kMerge:
        action = value::mergeable(kind) && dst_type == value::kind_name(kind) &&
                         !value::payload_has_field_ttls(job.payload_view())
                     ? "merge (exists)"
                     : "conflict (exists)";
        break;
      case engine::ConflictPolicy::kFail: action = "conflict (exists)"; break;
    }
  }
  const std::string_view a(action);
  if (a == "copy" || a == "replace (exists)") {
    ++c.would_copy;
    c.would_copy_bytes += job.held + big_size;
  } else if (a == "skip (exists)") {
    ++c.would_skip;
  } else if (a == "merge (exists)") {
    ++c.would_merge;
    c.would_copy_bytes += job.held + big_size;
  } else {
    ++c.would_conflict;
  }
  ++stats_.actions[std::string(a.substr(0, a.find(' ')))];
  engine_->add_example(j, action);
  engine_->done(j);
}

}  // namespace rmig::copy
