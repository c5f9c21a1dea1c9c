// The end of a key's flow: its expiry on the temporary key, the RENAME that puts it in place, and the
// deletion of a temporary key that must not land.

#include "copy/rewrite/rewriter.hpp"
#include "copy/ttl.hpp"
#include "util/escape.hpp"
#include "util/int_text.hpp"

namespace rmig::copy {

using Side = engine::Engine::Side;

void Rewriter::finalize(uint32_t j) {
  State& st = state_[j];
  engine::Job& job = engine_->job(j);
  if (engine_->failing()) {
    // Nothing new is put in place once the run is failing; a temporary key without its guard goes now.
    if (st.created && !st.guarded) {
      const std::string_view args[] = {delete_command(engine_->options().destination_scripts), st.temp};
      engine_->send(j, Side::kDestination, args, 2, op(kIgnore));
    }
    return give_up(j);
  }
  if (st.guarded && !st.rechecked) {
    // A key read in several chunks may have been deleted on the source meanwhile (the last reads then see an
    // empty key): what was built of it must not land.
    st.phase = Phase::kRecheck;
    const std::string_view args[] = {"EXISTS", job.key};
    engine_->send(j, Side::kSource, args, 2, op(kRecheck));
    return;
  }
  const TtlPlan plan = plan_ttl(job.pttl, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - job.sent_at)
                                              .count());
  if (plan.kind == TtlPlan::Kind::kExpired) return discard(j, Outcome::kExpired);
  const bool was_only_write = st.phase == Phase::kRead && st.writes > 0;
  st.phase = Phase::kFinalize;
  st.finalize_sent = was_only_write;
  st.expiring = plan.kind == TtlPlan::Kind::kExpiring;
  // The expiry goes on the temporary key: RENAME carries it over, so the key is never seen without it.
  if (st.expiring) {
    const engine::ServerClock& clock = engine_->destination_clock(j);
    const bool absolute = clock.known();
    const IntText when(absolute ? clock.unix_ms_at(job.sent_at + std::chrono::milliseconds(job.pttl))
                                : plan.restore_ttl_ms);
    const std::string_view args[] = {absolute ? "PEXPIREAT" : "PEXPIRE", st.temp, when.view()};
    if (!engine_->send(j, Side::kDestination, args, 3, op(kExpire))) return;
  } else if (st.guarded) {
    const std::string_view args[] = {"PERSIST", st.temp};
    if (!engine_->send(j, Side::kDestination, args, 2, op(kExpire))) return;
  }
  st.probing = job.maybe_duplicate && job.live == engine::LiveMode::kNone &&
               engine_->options().conflict == engine::ConflictPolicy::kReplace;
  send_rename(j);
}

void Rewriter::on_recheck(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (!resp::is_integer(r)) return error(j, Side::kSource, "EXISTS", r);
  if (r->integer == 0) return discard(j, Outcome::kVanished);
  st.rechecked = true;
  finalize(j);
}

void Rewriter::send_rename(uint32_t j) {
  State& st = state_[j];
  const engine::Job& job = engine_->job(j);
  const bool replace = engine_->options().conflict == engine::ConflictPolicy::kReplace && !st.probing &&
                       st.options.may_replace;
  const std::string_view args[] = {replace ? "RENAME" : "RENAMENX", st.temp, job.target()};
  engine_->send(j, Side::kDestination, args, 3, op(kRename));
}

void Rewriter::on_rename(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (resp::is_status(r, "OK") || (resp::is_integer(r) && r->integer == 1)) return placed(j);
  if (resp::is_integer(r) && r->integer == 0) {
    if (st.probing) {
      // Replace policy, a key SCAN may have returned twice: the target is (almost surely) this run's own
      // earlier copy. Replace it and count a duplicate.
      st.probing = false;
      st.duplicate = true;
      return send_rename(j);
    }
    if (st.options.hand_over && !st.field_expiring) {
      st.phase = Phase::kIdle;
      st.created = false;  // the task's now
      hold(j, 0);
      st.step = Step::kHandedOver;
      return;
    }
    return discard(j, Outcome::kExists);
  }
  if (resp::is_error(r) && resp::text(r).find("no such key") != std::string_view::npos) {
    // The temporary key is gone: its expiry passed on the way (or the only write failed, see its reply).
    st.created = false;
    if (!st.message.empty()) return fail(j, st.message);
    if (st.expiring || st.field_expiring) return discard(j, Outcome::kExpired);
    return fail(j, "the temporary key " + printable_short(st.temp) + " vanished before its RENAME");
  }
  error(j, Side::kDestination, "RENAME", r);
}

void Rewriter::check_temp(uint32_t j) {
  // The RENAME may have run before the connection dropped: it did if the temporary key is gone.
  State& st = state_[j];
  st.phase = Phase::kCheck;
  st.writes = 0;  // their replies were lost with the connection
  st.write_sizes.clear();
  st.write_head = 0;
  st.write_bytes = 0;
  const std::string_view args[] = {"EXISTS", st.temp};
  engine_->send(j, Side::kDestination, args, 2, op(kCheckTemp));
}

void Rewriter::on_check_temp(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (!resp::is_integer(r)) return error(j, Side::kDestination, "EXISTS", r);
  if (r->integer == 1) {
    // The RENAME did not run (or RENAMENX kept the target): finalize again.
    st.phase = Phase::kRead;
    st.finalize_sent = false;
    return finalize(j);
  }
  placed(j);
}

void Rewriter::placed(uint32_t j) {
  State& st = state_[j];
  st.phase = Phase::kIdle;
  hold(j, 0);
  // Counted for the key that landed only, not for an attempt started again after a reconnection.
  report::Counters& c = engine_->counters(j);
  c.stream_not_recreated += st.not_recreated;
  if (st.field_ttls_dropped) ++c.field_ttls_dropped;
  if (st.duplicate) {
    // The replace policy found the copy this run made earlier of a key SCAN returned twice.
    ++c.duplicates;
    --c.scanned;
  } else {
    ++(engine_->job(j).live != engine::LiveMode::kNone ? c.recopied : c.copied);
    ++c.rewritten;
    c.bytes += st.total_bytes;
    engine_->wrote(j);
  }
  st.step = Step::kPlaced;
}

void Rewriter::discard(uint32_t j, Outcome outcome, std::string message) {
  State& st = state_[j];
  st.outcome = outcome;
  st.message = std::move(message);
  st.phase = Phase::kDiscard;
  if (!st.created) return settle(j);
  send_discard(j);
}

void Rewriter::send_discard(uint32_t j) {
  const std::string_view args[] = {delete_command(engine_->options().destination_scripts), state_[j].temp};
  engine_->send(j, Side::kDestination, args, 2, op(kDiscard));
}

void Rewriter::settle(uint32_t j) {
  State& st = state_[j];
  st.phase = Phase::kIdle;
  hold(j, 0);
  report::Counters& c = engine_->counters(j);
  const bool live = engine_->job(j).live != engine::LiveMode::kNone;
  if (live && (st.outcome == Outcome::kExpired || st.outcome == Outcome::kVanished)) {
    st.step = Step::kGone;
    return;
  }
  switch (st.outcome) {
    case Outcome::kExpired: ++c.expired; return engine_->done(j);
    case Outcome::kVanished: ++c.vanished; return engine_->done(j);
    case Outcome::kExists: st.step = Step::kExists; return;
    case Outcome::kFailed:
    case Outcome::kNone: return engine_->fail_key(j, st.message.empty() ? "rewrite failed" : st.message);
  }
}

}  // namespace rmig::copy
