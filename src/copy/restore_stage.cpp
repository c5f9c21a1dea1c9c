#include "copy/restore_stage.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "copy/merge.hpp"
#include "copy/restore_check.hpp"
#include "copy/temp_key.hpp"
#include "copy/ttl.hpp"
#include "resp/server_error.hpp"
#include "scripts/scripts.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"
#include "util/escape.hpp"
#include "util/int_text.hpp"
#include "value/kind.hpp"
#include "value/string_payload.hpp"

namespace rmig::copy {

namespace {
using Side = engine::Engine::Side;
using resp::ServerError;

std::string error_text(const redisReply* r) {
  return resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
}
}  // namespace

void RestoreStage::attach(engine::Engine& engine) {
  engine_ = &engine;
  const engine::Selection& sel = engine.options().selection;
  chains_ = sel.renamed_only && sel.rename && sel.rename->may_chain();
  scripts_ = engine.options().destination_scripts;
  state_.assign(engine.window_size(), State{});
}

RestoreStage::Step RestoreStage::start(uint32_t j, int64_t idle) {
  state_[j].idle = idle;
  return apply(j);
}

void RestoreStage::merge_temp(uint32_t j, std::string temp) {
  state_[j].merge_temp = std::move(temp);
  engine_->job(j).resent = false;  // a new stage starts
  merge(j);
}

RestoreStage::Step RestoreStage::resend(uint32_t j) {
  switch (state_[j].phase) {
    case Phase::kRestore: return apply(j);
    case Phase::kRestoreTemp: restore_temp(j); break;
    case Phase::kMerge: merge(j); break;
  }
  return Step::kWait;
}

RestoreStage::Step RestoreStage::on_reply(uint32_t j, uint8_t code, resp::Reply reply) {
  const redisReply* r = reply.get();
  switch (static_cast<Op>(ops_.index(code))) {
    case kRestore: return on_restore(j, r);
    case kCheckBusyTtl:
      if (resp::is_integer(r) && r->integer != -2) {
        state_[j].copy.known = true;
        state_[j].copy.pttl = r->integer;
      }
      return Step::kWait;
    case kCheckBusy: return on_check_busy(j, r);
    case kCheckRestored:
      if (resp::is_integer(r) && r->integer == 1) return restored(j);
      existing(j);  // there before this run (or the check was refused: not claimed): the policy decides
      return Step::kWait;
    case kRestoreTemp: on_restore_temp(j, r); return Step::kWait;
    case kMerge: return on_merge(j, r);
    case kResync: return on_resync(j, r);
  }
  return Step::kWait;
}

RestoreStage::Step RestoreStage::apply(uint32_t j) {
  if (engine_->failing()) {  // nothing new is written once the run is failing
    engine_->abandon(j);
    return Step::kWait;
  }
  engine::Job& job = engine_->job(j);
  const bool live = job.live != engine::LiveMode::kNone;
  State& st = state_[j];
  st.phase = Phase::kRestore;
  // The time in flight matters to a key with a TTL only: no clock read for the others.
  const int64_t in_flight_ns = job.pttl >= 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   std::chrono::steady_clock::now() - job.sent_at)
                                                   .count()
                                             : 0;
  const TtlPlan plan = plan_ttl(job.pttl, in_flight_ns);
  if (plan.kind == TtlPlan::Kind::kExpired) {
    // A live run's destination may hold an older copy of the key, which must not outlive it.
    if (live) return Step::kGone;
    ++engine_->counters(j).expired;
    engine_->done(j);
    return Step::kWait;
  }
  // With the destination's clock known the expiry is absolute (ABSTTL), computed from the moment the PTTL
  // was sent: waiting in the destination's queue then cannot extend the key's life.
  const engine::ServerClock& clock = engine_->destination_clock(j);
  const bool absolute = plan.kind == TtlPlan::Kind::kExpiring && clock.known();
  IntText ttl(absolute ? clock.unix_ms_at(job.sent_at + std::chrono::milliseconds(job.pttl))
                       : plan.restore_ttl_ms);
  const std::string_view payload = job.payload_view();
  const bool replace_policy =
      engine_->options().conflict == engine::ConflictPolicy::kReplace && !chain_target(j);
  // A live run's key was copied before, by this run or an earlier one: it is no duplicate of this pass.
  st.probing = !live && job.maybe_duplicate && replace_policy && !st.duplicate_confirmed;
  const bool replace = replace_policy && !st.probing;
  const IntText idle_value(st.idle);
  if (job.live == engine::LiveMode::kResync && replace) {
    // Compared on the destination first: written only when its copy differs.
    const std::string temp = restore_check_key(job.target(), engine_->options().selection.own_prefix);
    const IntText tolerance(scripts::kExpiryToleranceMs);
    const auto w = scripts::restore_unless_equal().words(scripts_, st.resync_eval);
    std::string_view args[13] = {
        w.verb,          w.script, "2", job.target(), temp, payload, ttl.view(), absolute ? "1" : "0",
        tolerance.view()};
    std::size_t argc = 9;
    if (absolute) args[argc++] = "ABSTTL";
    if (st.idle >= 0) {
      args[argc++] = engine_->options().source_lfu ? "FREQ" : "IDLETIME";
      args[argc++] = idle_value.view();
    }
    send_payload(j, args, argc, 5, op(kResync));
    return Step::kWait;
  }
  if (job.raw_string && st.idle < 0 && !set_refused_) {
    std::string_view args[6] = {"SET", job.target(), payload};
    std::size_t argc = 3;
    if (plan.kind == TtlPlan::Kind::kExpiring) {
      args[argc++] = absolute ? "PXAT" : "PX";
      args[argc++] = ttl.view();
    }
    if (!replace) args[argc++] = "NX";
    send_payload(j, args, argc, 2, op(kRestore));
    return Step::kWait;
  }
  if (job.raw_string && !materialize(j)) return Step::kWait;
  std::string_view args[8] = {"RESTORE", job.target(), ttl.view(), job.payload_view()};
  std::size_t argc = 4;
  if (replace) args[argc++] = "REPLACE";
  if (absolute) args[argc++] = "ABSTTL";
  if (st.idle >= 0) {
    args[argc++] = engine_->options().source_lfu ? "FREQ" : "IDLETIME";
    args[argc++] = idle_value.view();
  }
  send_payload(j, args, argc, 3, op(kRestore));
  return Step::kWait;
}

void RestoreStage::send_payload(uint32_t j, const std::string_view* args, std::size_t argc,
                                std::size_t payload_at, uint8_t code) {
  if (args[payload_at].size() >= net::OutBuffer::kReferenceThreshold) {
    // Large payload: the write references it instead of copying it.
    engine_->send_ref(j, Side::kDestination, args, argc, payload_at, engine_->share_payload(j), code);
  } else {
    engine_->send(j, Side::kDestination, args, argc, code);
  }
}

RestoreStage::Step RestoreStage::on_resync(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (resp::is_integer(r)) {
    if (r->integer == 1) return restored(j);
    ++engine_->counters(j).unchanged;  // equal: nothing written
    engine_->done(j);
    return Step::kWait;
  }
  const std::string msg = error_text(r);
  const bool sent_eval = st.resync_eval || !scripts_.evalsha;
  if (resp::is_error(r) && scripts::Script::fall_back(msg, scripts_, st.resync_eval)) return apply(j);
  if (resp::is_error(r)) {
    if (engine_->handle_error(j, Side::kDestination, sent_eval ? "EVAL" : "EVALSHA", msg)) return Step::kWait;
    // The script's RESTORE met what a plain RESTORE would: the same ways out.
    if (engine_->options().mode == engine::CopyMode::kAuto) {
      if (resp::classify_error(msg) == ServerError::kBadPayload) {
        st.message = msg;
        return Step::kRefused;
      }
      if (msg.find("invalid bulk length") != std::string::npos) return Step::kTooLong;
    }
  }
  engine_->fail_key(j, "resync: " + msg);
  return Step::kWait;
}

bool RestoreStage::materialize(uint32_t j) {
  engine::Job& job = engine_->job(j);
  if (!job.raw_string) return true;
  const std::string_view value = job.payload_view();
  resp::Reply payload = resp::make_string_reply(value::string_payload_size(value));
  if (!payload) {
    engine_->fail_key(j, "out of memory building a string's payload");
    return false;
  }
  value::write_string_payload(value, engine_->options().string_payload_rdb, payload->str);
  job.shared.reset();  // a write still referencing the value keeps its own owner
  job.payload = std::move(payload);
  job.raw_string = false;
  return true;
}

RestoreStage::Step RestoreStage::on_restore(uint32_t j, const redisReply* r) {
  if (resp::is_status(r, "OK")) return restored(j);
  engine::Job& job = engine_->job(j);
  const char* command = job.raw_string ? "SET" : "RESTORE";
  // SET ... NX answers nil where RESTORE answers BUSYKEY.
  const bool exists = job.raw_string && resp::is_nil(r);
  if (!exists && !resp::is_error(r)) {
    engine_->fail_key(j, std::string(command) + ": unexpected reply " + resp::describe(r));
    return Step::kWait;
  }
  const std::string_view msg = exists ? std::string_view() : resp::text(r);
  State& st = state_[j];
  // SET not allowed (to the user, or on this key: an ACL selector may give +set on the tool's own keys
  // only), not known, or without PXAT (a destination node older than the one probed, in a cluster being
  // upgraded): RESTORE, whose own refusal then says what it says.
  const ServerError error = exists ? ServerError::kOther : resp::classify_error(msg);
  if (job.raw_string && (error == ServerError::kNoPerm || error == ServerError::kNoPermKey ||
                         error == ServerError::kUnknownCommand || msg.starts_with("ERR syntax error"))) {
    if (!set_refused_) {
      set_refused_ = true;
      spdlog::info("{}: SET refused ({}): strings are written with RESTORE from now on",
                   engine_->label(j, Side::kDestination), msg);
    }
    return apply(j);
  }
  if (exists || error == ServerError::kBusyKey) {
    if (st.probing) {
      st.duplicate_confirmed = true;
      return apply(j);
    }
    if (job.resent || (job.recheck && engine_->written_before(j))) {
      // The RESTORE was sent again after its connection dropped, or a resumed run meets a key its checkpoint
      // says an earlier attempt wrote: if the destination holds exactly the payload, it was this run's copy
      // (copied); otherwise the key was there before (the policy decides). A resumed run's other keys that
      // exist were not written by this run as far as its records show: the policy decides (skipped), even
      // when they are equal, so `copied` never counts a key an earlier, finished run copied.
      st.copy.known = false;
      st.copy.read_at = std::chrono::steady_clock::now();
      const std::string_view pttl[] = {"PTTL", job.target()};
      if (!engine_->send(j, Side::kDestination, pttl, 2, op(kCheckBusyTtl))) return Step::kWait;
      if (job.built) {
        // A built payload is never compressed, where the destination's DUMP of the same string may be: the
        // value itself is compared (one byte more than it tells a longer one).
        const IntText end(static_cast<int64_t>(job.payload_view().size()));
        const std::string_view args[] = {"GETRANGE", job.target(), "0", end.view()};
        engine_->send(j, Side::kDestination, args, 4, op(kCheckBusy));
        return Step::kWait;
      }
      const std::string_view args[] = {"DUMP", job.target()};
      engine_->send(j, Side::kDestination, args, 2, op(kCheckBusy));
      return Step::kWait;
    }
    if (job.maybe_duplicate) {
      report::Counters& c = engine_->counters(j);
      ++c.duplicates;
      --c.scanned;
      engine_->done(j);
      return Step::kWait;
    }
    existing(j);
    return Step::kWait;
  }
  if (engine_->handle_error(j, Side::kDestination, command, msg)) return Step::kWait;
  if (engine_->options().mode == engine::CopyMode::kAuto && !job.raw_string) {
    if (resp::classify_error(msg) == ServerError::kBadPayload) {
      st.message = std::string(msg);
      return Step::kRefused;
    }
    if (msg.find("invalid bulk length") != std::string_view::npos) return Step::kTooLong;
  }
  engine_->fail_key(j, std::string(command) + ": " + std::string(msg));
  return Step::kWait;
}

RestoreStage::Step RestoreStage::on_check_busy(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (job.built) {
    // GETRANGE of the destination key: this run's copy when it is the value exactly (WRONGTYPE: another
    // type, there before).
    const std::optional<std::string> value = job.raw_string ? std::optional<std::string>(job.payload_view())
                                                            : value::string_payload_value(job.payload_view());
    if (value && r != nullptr && r->type == REDIS_REPLY_STRING && resp::text(r) == *value) return restored(j);
    existing(j);
    return Step::kWait;
  }
  if (resp::is_string(r) && resp::text(r) == job.payload_view()) return restored(j);
  if (resp::is_string(r)) {
    // Maybe only a hash table's order differs: the destination compares with a fresh restore of the payload.
    const std::string temp = restore_check_key(job.target(), engine_->options().selection.own_prefix);
    const std::string_view args[] = {
        "EVAL", scripts::same_as_restored().body(), "2", job.target(), temp, job.payload_view()};
    engine_->send_ref(j, Side::kDestination, args, std::size(args), 5, engine_->share_payload(j),
                      op(kCheckRestored));
    return Step::kWait;
  }
  existing(j);
  return Step::kWait;
}

RestoreStage::Step RestoreStage::restored(uint32_t j) {
  engine::Job& job = engine_->job(j);
  report::Counters& c = engine_->counters(j);
  if (state_[j].duplicate_confirmed) {
    // The REPLACE that follows a BUSYKEY probe: the key was restored earlier in this run.
    ++c.duplicates;
    --c.scanned;
  } else {
    ++(job.live != engine::LiveMode::kNone ? c.recopied : c.copied);
    c.bytes += job.held;
    engine_->wrote(j);
  }
  return Step::kWritten;
}

bool RestoreStage::chain_target(uint32_t j) const {
  const engine::Selection& sel = engine_->options().selection;
  if (!sel.renamed_only || !chains_) return false;
  const engine::Job& job = engine_->job(j);
  if (job.rule() < 0) return false;
  const std::string& name = job.target();
  // Only a name the selection takes can be another selected key's (its type is not asked: a key of a type
  // left out counts as selected, so it is not written over either).
  if (!sel.own_prefix.empty() && name.starts_with(sel.own_prefix)) return false;
  if (!sel.match.empty() && std::none_of(sel.match.begin(), sel.match.end(),
                                         [&](const std::string& p) { return select::glob_match(p, name); }))
    return false;
  if (std::any_of(sel.exclude.begin(), sel.exclude.end(),
                  [&](const std::string& p) { return select::glob_match(p, name); }))
    return false;
  std::string renamed;
  return sel.rename->apply_into(name, renamed) >= 0 && renamed != name;
}

void RestoreStage::exists(uint32_t j, bool field_ttls) {
  if (engine_->job(j).maybe_duplicate) {
    report::Counters& c = engine_->counters(j);
    ++c.duplicates;
    --c.scanned;
    return engine_->done(j);
  }
  if (engine_->options().conflict == engine::ConflictPolicy::kMerge && field_ttls)
    return field_ttl_conflict(j);
  existing(j);  // skip or fail (a merge took the temporary key already)
}

void RestoreStage::field_ttl_conflict(uint32_t j) {
  ++engine_->counters(j).conflicts;
  engine_->record_error(
      "conflict: a hash with field TTLs cannot be merged into an existing key (the merge would drop its "
      "field TTLs)",
      engine_->job(j).target());
  engine_->done(j);
}

void RestoreStage::existing(uint32_t j) {
  state_[j].copy.known = false;  // not this run's copy: the TTL read on the destination is not its
  if (chain_target(j)) {
    // In place: the key under the new name is one a rule renames too, which the rename check did not see;
    // writing over (or merging into) it would lose its value before it is copied.
    const engine::Job& job = engine_->job(j);
    const int rule = engine_->options().selection.rename->rule_index_for(job.target());
    return engine_->fail_key(
        j,
        "not written: its new name is the old name of another selected key (created during the run, or past "
        "the "
        "rename check's memory bound) that rule " +
            std::to_string(rule + 1) + " (" + engine_->options().selection.rename->describe(rule) +
            ") renames in turn (in place, it would be overwritten before it is copied); run again once "
            "it is moved, or rename in two passes through a temporary prefix");
  }
  engine::Job& job = engine_->job(j);
  report::Counters& c = engine_->counters(j);
  switch (engine_->options().conflict) {
    case engine::ConflictPolicy::kMerge: {
      if (!materialize(j)) return;
      const value::Kind kind = value::payload_kind(job.payload_view());
      if (!value::mergeable(kind)) {
        ++c.conflicts;
        engine_->record_error(
            std::string("conflict: a ") + value::kind_name(kind) +
                " cannot be merged into an existing key (--on-conflict merge merges hashes, sets "
                "and zsets)",
            job.target());
        return engine_->done(j);
      }
      // The merge script folds fields in with HSET: their TTLs would be lost.
      if (value::payload_has_field_ttls(job.payload_view())) return field_ttl_conflict(j);
      job.resent = false;  // a new stage starts
      return restore_temp(j);
    }
    case engine::ConflictPolicy::kFail:
      ++c.conflicts;
      engine_->record_error("conflict: the key exists on the destination (--on-conflict fail)", job.target());
      engine_->stop_run(
          make_error(ExitCode::kKeysFailed,
                     engine_->label(j, Side::kDestination) + ": key \"" + printable_short(job.target()) +
                         "\" already exists (--on-conflict fail): stopped before writing anything "
                         "else; choose skip, replace or merge to go on"));
      return engine_->done(j);
    default: ++c.skipped; return engine_->done(j);
  }
}

std::string RestoreStage::temp_name(uint32_t j) const {
  // One temporary name per job slot and process: a slot handles one key at a time.
  return temp_key(engine_->job(j).target(), engine_->options().selection.own_prefix,
                  std::to_string(::getpid()) + ":" + std::to_string(j));
}

void RestoreStage::restore_temp(uint32_t j) {
  engine::Job& job = engine_->job(j);
  state_[j].phase = Phase::kRestoreTemp;
  const std::string temp = temp_name(j);
  const IntText ttl(kTempKeyTtlMs);
  const std::string_view args[] = {"RESTORE", temp, ttl.view(), job.payload_view(), "REPLACE"};
  engine_->send(j, Side::kDestination, args, std::size(args), op(kRestoreTemp));
}

void RestoreStage::on_restore_temp(uint32_t j, const redisReply* r) {
  if (resp::is_status(r, "OK")) {
    engine_->job(j).resent = false;
    return merge(j);
  }
  const std::string msg = error_text(r);
  if (resp::is_error(r) && engine_->handle_error(j, Side::kDestination, "RESTORE", msg)) return;
  engine_->fail_key(j, "RESTORE (merge): " + msg);
}

void RestoreStage::merge(uint32_t j) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  st.phase = Phase::kMerge;
  const std::string temp = st.merge_temp.empty() ? temp_name(j) : st.merge_temp;
  const char* prefer = engine_->options().merge_prefer_source ? "1" : "0";
  const auto w = scripts::merge().words(scripts_, st.merge_eval);
  const std::string_view args[] = {w.verb, w.script, "2", job.target(), temp, prefer};
  engine_->send(j, Side::kDestination, args, std::size(args), op(kMerge));
}

RestoreStage::Step RestoreStage::on_merge(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  report::Counters& c = engine_->counters(j);
  if (resp::is_integer(r)) {
    switch (r->integer) {
      case 1:
        ++c.merged;
        c.bytes += job.held;
        engine_->wrote(j);
        return Step::kWritten;
      case -1:
        ++c.conflicts;
        engine_->record_error(
            st.merge_temp.empty()
                ? "conflict: the existing key has another type (--on-conflict merge)"
                : "conflict: the existing key has another type, or its type cannot be merged "
                  "(--on-conflict merge merges hashes, sets and zsets)",
            job.target());
        engine_->done(j);
        return Step::kWait;
      case -2:  // the temporary key expired: again
        if (!st.merge_temp.empty()) return Step::kRewrite;
        restore_temp(j);
        return Step::kWait;
      default:  // the target went away (the temporary key is deleted): a plain copy
        if (!st.merge_temp.empty()) return Step::kRewrite;
        st.duplicate_confirmed = false;
        return apply(j);
    }
  }
  const std::string msg = error_text(r);
  const bool sent_eval = st.merge_eval || !scripts_.evalsha;
  if (resp::is_error(r) && scripts::Script::fall_back(msg, scripts_, st.merge_eval)) {
    merge(j);
    return Step::kWait;
  }
  if (resp::is_error(r) &&
      engine_->handle_error(j, Side::kDestination, sent_eval ? "EVAL" : "EVALSHA", msg)) {
    return Step::kWait;
  }
  engine_->fail_key(j, "merge: " + msg);
  return Step::kWait;
}

}  // namespace rmig::copy
