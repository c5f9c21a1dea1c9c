#include "copy/copy_task.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "copy/merge.hpp"
#include "copy/restore_check.hpp"
#include "copy/temp_key.hpp"
#include "copy/ttl.hpp"
#include "resp/server_error.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"
#include "util/escape.hpp"
#include "util/int_text.hpp"
#include "util/sha1.hpp"

namespace rmig::copy {

namespace {

using Side = engine::Engine::Side;
using resp::ServerError;

// Compare-and-delete for --cleanup and the cleanup command. KEYS[1] is the source key, ARGV[1] the SHA1 of
// the DUMP payload that was copied (or compared), ARGV[2] the remaining TTL in ms the copy was given (-1:
// persistent), read ARGV[3] ms before this call was sent (on the tool's monotonic clock). The key is deleted
// only if it still holds that value and its expiry is the one copied: persistent then and now, or an
// absolute expiry within kExpiryToleranceMs of the copy's (PEXPIRETIME against the server's TIME minus the
// time elapsed plus the TTL read then; where PEXPIRETIME or TIME is refused or unknown, its PTTL now against
// the TTL read then minus the time elapsed, the same arithmetic). A TTL lowered, raised, added or removed
// means the key was written: it is kept.
// Returns 1 when deleted, 0 when kept because it changed, -1 when the key is gone.
constexpr const char* kCleanupScript =
    "local t = redis.call('PTTL', KEYS[1])\n"
    "if t == -2 then return -1 end\n"
    "local want = tonumber(ARGV[2])\n"
    "if want < 0 then\n"
    "  if t ~= -1 then return 0 end\n"
    "else\n"
    "  if t < 0 then return 0 end\n"
    "  local elapsed = tonumber(ARGV[3])\n"
    "  local drift = t - (want - elapsed)\n"
    // Redis >= 7.0 (and Valkey): the absolute expiry against the one expected on the server's own clock.
    // Refused or unknown (an ACL without +pexpiretime +time, an older server): the PTTL above.
    "  local at = redis.pcall('PEXPIRETIME', KEYS[1])\n"
    "  if type(at) == 'number' and at > 0 then\n"
    "    local now = redis.pcall('TIME')\n"
    "    if type(now) == 'table' and now[2] then\n"
    "      local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)\n"
    "      drift = at - (now_ms - elapsed + want)\n"
    "    end\n"
    "  end\n"
    "  if drift > 1000 or drift < -1000 then return 0 end\n"  // kExpiryToleranceMs
    "end\n"
    "local v = redis.call('DUMP', KEYS[1])\n"
    "if not v or redis.sha1hex(v) ~= ARGV[1] then return 0 end\n"
    "redis.call('UNLINK', KEYS[1])\n"
    "return 1\n";

}  // namespace

int64_t CopyTask::cleanup_elapsed_ms(std::chrono::steady_clock::time_point read_at) noexcept {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - read_at)
          .count();
  return ms < 0 ? 0 : static_cast<int64_t>(ms);
}

const scripts::Script& CopyTask::cleanup_script() {
  static const scripts::Script script(kCleanupScript);
  return script;
}

void CopyTask::attach(engine::Engine& engine) {
  DumpTask::attach(engine);
  const engine::Selection& sel = engine.options().selection;
  chains_ = sel.renamed_only && sel.rename && sel.rename->may_chain();
  state_.assign(engine.window_size(), State{});
  rewriter_.attach(engine);
  source_scripts_ = engine.options().source_scripts;
  destination_scripts_ = engine.options().destination_scripts;
}

void CopyTask::start(uint32_t j) {
  state_[j] = State{};
  const uint32_t node = engine_->job(j).node;
  if (engine_->options().mode == engine::CopyMode::kRewrite ||
      (node < rewrite_node_.size() && rewrite_node_[node] != 0))
    return rewrite(j);
  DumpTask::start(j);
}

void CopyTask::rewrite(uint32_t j, uint64_t size_hint) {
  if (engine_->failing()) return engine_->abandon(j);
  engine_->job(j).stage = kStageRewrite;
  state_[j].rewrote = true;
  state_[j].merge_temp.clear();
  rewriter_.start(j, size_hint);
}

void CopyTask::big_key(uint32_t j, uint64_t size) { rewrite(j, size); }

void CopyTask::resend(uint32_t j) {
  if (resend_fetch(j)) return;
  switch (engine_->job(j).stage) {
    case kStageRewrite: return rewriter_.resend(j);
    case kStageApply:
    case kStageCheck: return apply(j);
    case kStageCleanup: return cleanup(j);
    case kStageRestoreTemp: return restore_temp(j);
    case kStageMerge: return merge(j);
    default: return fetch(j);
  }
}

void CopyTask::give_up(uint32_t j) {
  if (engine_->job(j).stage == kStageRewrite) return rewriter_.give_up(j);
  if (engine_->job(j).stage != kStageCleanup) return engine_->abandon(j);
  // Copied, but the deletion's outcome is unknown.
  ++engine_->counters(j).cleanup_failed;
  engine_->record_error(
      "cleanup: no answer before the run stopped; the key may still be on the source (its copy is "
      "on the destination)",
      engine_->job(j).key);
  engine_->done(j);
}

void CopyTask::on_reply(uint32_t j, uint8_t op, resp::Reply reply) {
  if (rewriter_.owns(op)) return rewriter_.on_reply(j, op, std::move(reply));
  if (on_fetch_reply(j, op, reply)) return;
  switch (op) {
    case kRestore: return on_restore(j, std::move(reply));
    case kCheckBusyTtl:
      if (resp::is_integer(reply.get()) && reply->integer != -2) {
        state_[j].copy_ttl_known = true;
        state_[j].copy_pttl = reply->integer;
      }
      return;
    case kCheckBusy: return on_check_busy(j, std::move(reply));
    case kCheckRestored: return on_check_restored(j, std::move(reply));
    case kCleanup: return on_cleanup(j, std::move(reply));
    case kRestoreTemp: return on_restore_temp(j, std::move(reply));
    case kMerge: return on_merge(j, std::move(reply));
    default: return;
  }
}

void CopyTask::fetched(uint32_t j) {
  const std::string sha = std::move(state_[j].payload_sha);
  state_[j] = State{};
  state_[j].payload_sha = sha;
  apply(j);
}

void CopyTask::apply(uint32_t j) {
  if (engine_->failing()) return engine_->abandon(j);  // nothing new is written once the run is failing
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  job.stage = kStageApply;
  const TtlPlan plan = plan_ttl(job.pttl, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - job.sent_at)
                                              .count());
  if (plan.kind == TtlPlan::Kind::kExpired) {
    ++engine_->counters(j).expired;
    return engine_->done(j);
  }
  // With the destination's clock known the expiry is absolute (ABSTTL), computed from the moment the PTTL
  // was sent: waiting in the destination's queue then cannot extend the key's life.
  const engine::ServerClock& clock = engine_->destination_clock(j);
  const bool absolute = plan.kind == TtlPlan::Kind::kExpiring && clock.known();
  IntText ttl(absolute ? clock.unix_ms_at(job.sent_at + std::chrono::milliseconds(job.pttl))
                       : plan.restore_ttl_ms);
  const std::string_view payload = job.payload_view();
  // A possible duplicate in replace mode is first restored without REPLACE: success proves the key is new
  // (counted copied); BUSYKEY means it is (almost surely) the copy this run already made, restored again
  // with REPLACE and counted as a duplicate. Everything else goes straight to the policy's RESTORE.
  // In place, a key under a new name that is itself the old name of a key the rules rename is another
  // selected key the rename check did not see (created during the run, or past the check's memory bound):
  // it is never overwritten (no REPLACE; BUSYKEY fails the key, see existing()).
  const bool replace_policy =
      engine_->options().conflict == engine::ConflictPolicy::kReplace && !chain_target(j);
  st.probing = job.maybe_duplicate && replace_policy && !st.duplicate_confirmed;
  const bool replace = replace_policy && !st.probing;
  std::string_view args[8] = {"RESTORE", job.target(), ttl.view(), payload};
  std::size_t argc = 4;
  if (replace) args[argc++] = "REPLACE";
  if (absolute) args[argc++] = "ABSTTL";
  const IntText idle_value(idle(j));
  if (idle(j) >= 0) {
    args[argc++] = engine_->options().source_lfu ? "FREQ" : "IDLETIME";
    args[argc++] = idle_value.view();
  }
  if (payload.size() >= net::OutBuffer::kReferenceThreshold) {
    // Large payload: the write references it instead of copying it.
    engine_->send_ref(j, Side::kDestination, args, argc, 3, engine_->share_payload(j), kRestore);
  } else {
    engine_->send(j, Side::kDestination, args, argc, kRestore);
  }
}

void CopyTask::on_restore(uint32_t j, resp::Reply reply) {
  const redisReply* r = reply.get();
  if (resp::is_status(r, "OK")) return restored(j);
  if (!resp::is_error(r)) return engine_->fail_key(j, "RESTORE: unexpected reply " + resp::describe(r));
  const std::string_view msg = resp::text(r);
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  report::Counters& c = engine_->counters(j);
  if (resp::classify_error(msg) == ServerError::kBusyKey) {
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
      job.stage = kStageCheck;
      st.copy_ttl_known = false;
      st.copy_read_at = std::chrono::steady_clock::now();
      const std::string_view pttl[] = {"PTTL", job.target()};
      if (!engine_->send(j, Side::kDestination, pttl, 2, kCheckBusyTtl)) return;
      const std::string_view args[] = {"DUMP", job.target()};
      engine_->send(j, Side::kDestination, args, 2, kCheckBusy);
      return;
    }
    if (job.maybe_duplicate) {
      ++c.duplicates;
      --c.scanned;
      return engine_->done(j);
    }
    return existing(j);
  }
  if (engine_->handle_error(j, Side::kDestination, "RESTORE", msg)) return;
  if (resp::classify_error(msg) == ServerError::kBadPayload &&
      engine_->options().mode == engine::CopyMode::kAuto) {
    // The destination cannot read this payload (an older RDB version, or a type it does not know): the key
    // is rewritten with its type's commands, and so is every later key of this source node.
    const uint32_t node = job.node;
    if (rewrite_node_.size() <= node) rewrite_node_.resize(node + 1, 0);
    if (rewrite_node_[node] == 0) {
      rewrite_node_[node] = 1;
      spdlog::warn("{} refuses DUMP payloads of {} ({}): copying its keys with the rewrite path from now on",
                   engine_->label(j, Side::kDestination), engine_->label(j, Side::kSource), msg);
    }
    if (engine_->options().cleanup) st.payload_sha = sha1_hex(job.payload_view());
    job.resent = false;
    return rewrite(j, job.payload_view().size());
  }
  if (engine_->options().mode == engine::CopyMode::kAuto &&
      msg.find("invalid bulk length") != std::string_view::npos) {
    // The payload is longer than the destination's proto-max-bulk-len (it closes the connection after this
    // reply; the commands behind it are sent again): this key alone is rewritten in chunks, which fit when
    // its elements do. A string longer than the limit fails there (APPEND refuses to pass it).
    if (engine_->options().cleanup) st.payload_sha = sha1_hex(job.payload_view());
    job.resent = false;
    return rewrite(j);
  }
  engine_->fail_key(j, "RESTORE: " + std::string(msg));
}

void CopyTask::rewritten(uint32_t j, uint64_t bytes, bool duplicate) {
  report::Counters& c = engine_->counters(j);
  if (duplicate) {
    ++c.duplicates;
    --c.scanned;
  } else {
    ++c.copied;
    ++c.rewritten;
    c.bytes += bytes;
    engine_->wrote(j);
  }
  written(j);
}

void CopyTask::written(uint32_t j) {
  if (!engine_->options().cleanup) return engine_->done(j);
  if (state_[j].rewrote && state_[j].payload_sha.empty()) {
    // No DUMP was read (a big key, --mode rewrite, a node switched to the rewrite path): nothing to compare
    // the source key with, so it stays.
    if (!warned_cleanup_) {
      warned_cleanup_ = true;
      spdlog::warn(
          "--cleanup keeps source keys copied by the rewrite path without a DUMP (big keys, --mode "
          "rewrite, keys after a refused payload): delete them after a verify");
    }
    ++engine_->counters(j).cleanup_kept;
    return engine_->done(j);
  }
  engine_->job(j).resent = false;  // a new stage starts
  cleanup(j);
}

bool CopyTask::take_existing(uint32_t j, const std::string& temp) {
  if (engine_->options().conflict != engine::ConflictPolicy::kMerge || engine_->job(j).maybe_duplicate ||
      chain_target(j))
    return false;
  if (rewriter_.field_ttls(j)) return false;  // counted a conflict in target_exists
  state_[j].merge_temp = temp;
  engine_->job(j).resent = false;
  merge(j);
  return true;
}

void CopyTask::field_ttl_conflict(uint32_t j) {
  ++engine_->counters(j).conflicts;
  engine_->record_error(
      "conflict: a hash with field TTLs cannot be merged into an existing key (the merge would drop its "
      "field TTLs)",
      engine_->job(j).target());
  engine_->done(j);
}

void CopyTask::target_exists(uint32_t j) {
  if (engine_->job(j).maybe_duplicate) {
    report::Counters& c = engine_->counters(j);
    ++c.duplicates;
    --c.scanned;
    return engine_->done(j);
  }
  if (engine_->options().conflict == engine::ConflictPolicy::kMerge && rewriter_.field_ttls(j)) {
    return field_ttl_conflict(j);
  }
  existing(j);  // skip or fail (a merge took the temporary key already)
}

void CopyTask::on_check_busy(uint32_t j, resp::Reply reply) {
  const redisReply* r = reply.get();
  engine::Job& job = engine_->job(j);
  if (resp::is_string(r) && resp::text(r) == job.payload_view()) return restored(j);
  if (resp::is_string(r)) {
    // Maybe only a hash table's order differs: the destination compares with a fresh restore of the payload.
    const std::string temp = restore_check_key(job.target(), engine_->options().selection.own_prefix);
    const std::string_view args[] = {"EVAL", same_as_restored_script(), "2", job.target(),
                                     temp,   job.payload_view()};
    engine_->send_ref(j, Side::kDestination, args, std::size(args), 5, engine_->share_payload(j),
                      kCheckRestored);
    return;
  }
  existing(j);
}

bool CopyTask::chain_target(uint32_t j) const {
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

void CopyTask::existing(uint32_t j) {
  state_[j].copy_ttl_known = false;  // not this run's copy: the TTL read on the destination is not its
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
      const ValueKind kind = payload_kind(job.payload_view());
      if (!mergeable(kind)) {
        ++c.conflicts;
        engine_->record_error(
            std::string("conflict: a ") + kind_name(kind) +
                " cannot be merged into an existing key (--on-conflict merge merges hashes, sets "
                "and zsets)",
            job.target());
        return engine_->done(j);
      }
      // The merge script folds fields in with HSET: their TTLs would be lost.
      if (payload_has_field_ttls(job.payload_view())) return field_ttl_conflict(j);
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

std::string CopyTask::temp_name(uint32_t j) const {
  // One temporary name per job slot and process: a slot handles one key at a time.
  return temp_key(engine_->job(j).target(), engine_->options().selection.own_prefix,
                  std::to_string(::getpid()) + ":" + std::to_string(j));
}

void CopyTask::restore_temp(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageRestoreTemp;
  const std::string temp = temp_name(j);
  IntText ttl(kTempKeyTtlMs);
  const std::string_view args[] = {"RESTORE", temp, ttl.view(), job.payload_view(), "REPLACE"};
  engine_->send(j, Side::kDestination, args, std::size(args), kRestoreTemp);
}

void CopyTask::on_restore_temp(uint32_t j, resp::Reply reply) {
  const redisReply* r = reply.get();
  if (resp::is_status(r, "OK")) {
    engine_->job(j).resent = false;
    return merge(j);
  }
  const std::string msg =
      resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
  if (resp::is_error(r) && engine_->handle_error(j, Side::kDestination, "RESTORE", msg)) return;
  engine_->fail_key(j, "RESTORE (merge): " + msg);
}

void CopyTask::merge(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageMerge;
  const std::string temp = state_[j].merge_temp.empty() ? temp_name(j) : state_[j].merge_temp;
  const char* prefer = engine_->options().merge_prefer_source ? "1" : "0";
  const auto w = merge_script().words(destination_scripts_, state_[j].merge_eval);
  const std::string_view args[] = {w.verb, w.script, "2", job.target(), temp, prefer};
  engine_->send(j, Side::kDestination, args, std::size(args), kMerge);
}

void CopyTask::on_merge(uint32_t j, resp::Reply reply) {
  engine::Job& job = engine_->job(j);
  const redisReply* r = reply.get();
  report::Counters& c = engine_->counters(j);
  if (resp::is_integer(r)) {
    switch (r->integer) {
      case 1:
        ++c.merged;
        c.bytes += job.held;
        engine_->wrote(j);
        return written(j);
      case -1:
        ++c.conflicts;
        engine_->record_error(
            state_[j].merge_temp.empty()
                ? "conflict: the existing key has another type (--on-conflict merge)"
                : "conflict: the existing key has another type, or its type cannot be merged "
                  "(--on-conflict merge merges hashes, sets and zsets)",
            job.target());
        return engine_->done(j);
      case -2:  // the temporary key expired: again
        return state_[j].merge_temp.empty() ? restore_temp(j) : rewrite(j);
      default:  // the target went away (the temporary key is deleted): a plain copy
        if (!state_[j].merge_temp.empty()) return rewrite(j);
        state_[j].duplicate_confirmed = false;
        return apply(j);
    }
  }
  const std::string msg =
      resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
  const bool sent_eval = state_[j].merge_eval || !destination_scripts_.evalsha;
  if (resp::is_error(r) && scripts::Script::fall_back(msg, destination_scripts_, state_[j].merge_eval))
    return merge(j);
  if (resp::is_error(r) &&
      engine_->handle_error(j, Side::kDestination, sent_eval ? "EVAL" : "EVALSHA", msg)) {
    return;
  }
  engine_->fail_key(j, "merge: " + msg);
}

void CopyTask::on_check_restored(uint32_t j, resp::Reply reply) {
  if (resp::is_integer(reply.get()) && reply->integer == 1) return restored(j);
  existing(j);  // there before this run (or the check was refused: not claimed): the policy decides
}

void CopyTask::restored(uint32_t j) {
  engine::Job& job = engine_->job(j);
  report::Counters& c = engine_->counters(j);
  if (state_[j].duplicate_confirmed) {
    // The REPLACE that follows a BUSYKEY probe: the key was restored earlier in this run.
    ++c.duplicates;
    --c.scanned;
  } else {
    ++c.copied;
    c.bytes += job.held;
    engine_->wrote(j);
  }
  written(j);
}

void CopyTask::cleanup(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageCleanup;
  switch (engine_->deletion_gate(j)) {
    case engine::Engine::Gate::kWait: return;  // resend() comes back here once the destination was read
    case engine::Engine::Gate::kStopped:
      ++engine_->counters(j).cleanup_kept;  // copied, but deletions stopped: the source key stays
      return engine_->done(j);
    case engine::Engine::Gate::kGo: break;
  }
  const std::string sha =
      state_[j].payload_sha.empty() ? sha1_hex(job.payload_view()) : state_[j].payload_sha;
  // The expiry the copy has: the one this attempt read, or, for a copy an earlier attempt made (or one sent
  // again after a dropped connection), the one read on the destination when it was recognised.
  const State& st = state_[j];
  const int64_t want = st.copy_ttl_known ? st.copy_pttl : job.pttl;
  IntText pttl(want < 0 ? -1 : want);
  IntText elapsed(cleanup_elapsed_ms(st.copy_ttl_known ? st.copy_read_at : job.sent_at));
  const auto w = cleanup_script().words(source_scripts_, st.use_eval);
  const std::string_view args[] = {w.verb, w.script, "1", job.key, sha, pttl.view(), elapsed.view()};
  engine_->send(j, Side::kWriter, args, std::size(args), kCleanup);
}

void CopyTask::on_cleanup(uint32_t j, resp::Reply reply) {
  engine::Job& job = engine_->job(j);
  const redisReply* r = reply.get();
  report::Counters& c = engine_->counters(j);
  if (resp::is_integer(r)) {
    if (r->integer == 1 || (r->integer == -1 && job.resent)) {
      ++c.deleted;  // -1 after a re-send: the first send deleted it before the connection dropped
    } else {
      ++c.cleanup_kept;
      spdlog::debug("cleanup kept \"{}\": it changed or went away on the source during the copy",
                    printable_short(job.key));
    }
    return engine_->done(j);
  }
  const std::string_view msg = resp::text(r);
  if (resp::is_error(r)) {
    const ServerError kind = resp::classify_error(msg);
    const bool sent_eval = state_[j].use_eval || !source_scripts_.evalsha;
    // NOSCRIPT (the script cache was flushed: restart, failover), or EVALSHA refused: send the body.
    if (scripts::Script::fall_back(msg, source_scripts_, state_[j].use_eval)) return cleanup(j);
    if (kind == ServerError::kNoPerm) {
      // A refused EVAL, or a command the script runs (Redis 7.0 does not say which: PTTL and DUMP already
      // worked for this user, so it is UNLINK), fails the cleanup of every key: stop rather than copy on.
      const std::string cmd = resp::denied_command(msg);
      engine_->stop_run(resp::permission_error(
          engine_->connect_options(j, Side::kWriter), cmd.empty() ? "unlink" : cmd, msg,
          " (--cleanup runs EVALSHA or EVAL of a script calling PTTL, DUMP and UNLINK)"));
      return give_up(j);
    }
    if (engine_->handle_error(j, Side::kWriter, sent_eval ? "EVAL" : "EVALSHA", msg)) return;
  }
  ++c.cleanup_failed;
  engine_->record_error(
      "cleanup: " + (resp::is_error(r) ? std::string(msg) : "unexpected reply " + resp::describe(r)),
      job.key);
  engine_->done(j);
}

}  // namespace rmig::copy
