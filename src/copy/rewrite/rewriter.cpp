#include "copy/rewrite/rewriter.hpp"

#include <algorithm>

#include "copy/temp_key.hpp"
#include "util/int_text.hpp"
#include "value/kind.hpp"

namespace rmig::copy {

using Side = engine::Engine::Side;
using rewrite::Chunk;

void Rewriter::attach(engine::Engine& engine) {
  engine_ = &engine;
  state_.clear();
  state_.resize(engine.window_size());
  waiting_.clear();
}

Rewriter::Step Rewriter::take_step(uint32_t j) noexcept { return std::exchange(state_[j].step, Step::kWait); }

void Rewriter::reset(uint32_t j) {
  if (!state_[j].started) return;  // never rewritten since the last reset: nothing to clear (most keys)
  const uint32_t attempt = state_[j].attempt;
  state_[j] = State{};
  state_[j].attempt = attempt;
}

void Rewriter::start(uint32_t j, const Options& options) {
  State& st = state_[j];
  const engine::Job& job = engine_->job(j);
  const uint32_t attempt = st.attempt + 1;
  st = State{};
  st.started = true;
  st.attempt = attempt;
  st.options = options;
  st.temp = temp_key(job.target(), engine_->options().selection.own_prefix,
                     engine_->options().run_id + ":" + std::to_string(j) + ":" + std::to_string(attempt));
  hold(j, 0);
  prepare(j);
}

void Rewriter::restart(uint32_t j) {
  State& st = state_[j];
  std::string temp = std::move(st.temp);
  const uint32_t attempt = st.attempt;
  const Options options = st.options;
  st = State{};
  st.started = true;
  st.temp = std::move(temp);
  st.attempt = attempt;
  st.options = options;
  hold(j, 0);
}

void Rewriter::prepare(uint32_t j) {
  State& st = state_[j];
  engine::Job& job = engine_->job(j);
  st.phase = Phase::kPrepare;
  job.sent_at = std::chrono::steady_clock::now();
  const std::string_view pttl[] = {"PTTL", job.key};
  if (!engine_->send(j, Side::kSource, pttl, 2, op(kPttl))) return;
  if (job.type.empty()) {
    const std::string_view type[] = {"TYPE", job.key};
    engine_->send(j, Side::kSource, type, 2, op(kType));
  }
}

Rewriter::Step Rewriter::on_reply(uint32_t j, uint8_t code, resp::Reply reply) {
  State& st = state_[j];
  const redisReply* r = reply.get();
  const auto o = static_cast<Op>(ops_.index(code));
  // Replies of commands sent before the key moved on to deleting its temporary key.
  if (st.phase == Phase::kDiscard && o != kDiscard) return Step::kWait;
  switch (o) {
    case kPttl: on_pttl(j, r); break;
    case kType: on_type(j, r); break;
    case kRead: on_read(j, std::move(reply)); break;
    case kExistsSource: on_exists_source(j, r); break;
    case kStreamInfo: on_stream_info(j, r); break;
    case kStreamGroups: on_stream_groups(j, r); break;
    case kConsumers: on_consumers(j, r); break;
    case kPending: on_pending(j, r); break;
    case kWrite:
    case kClaim: on_write(j, code, r); break;
    case kExpire:
      // Its outcome shows in the RENAME's reply (a key whose expiry passed is gone); only errors matter.
      if (resp::is_error(r)) error(j, Side::kDestination, "PEXPIREAT", r);
      break;
    case kRename: on_rename(j, r); break;
    case kDiscard: settle(j); break;
    case kCheckTemp: on_check_temp(j, r); break;
    case kIgnore: break;
    case kRecheck: on_recheck(j, r); break;
    case kFieldTtl: on_field_ttl(j, r); break;
  }
  return take_step(j);
}

Rewriter::Step Rewriter::resend(uint32_t j) {
  State& st = state_[j];
  switch (st.phase) {
    case Phase::kFinalize:
    case Phase::kCheck: check_temp(j); return take_step(j);
    case Phase::kDiscard:
      if (!st.created) {
        settle(j);
      } else {
        send_discard(j);
      }
      return take_step(j);
    default: break;
  }
  // Anything else starts the key again, under the same temporary name, emptied first (the UNLINK runs after
  // every write sent before it on that connection).
  if (st.created) {
    const std::string_view args[] = {delete_command(engine_->options().destination_scripts), st.temp};
    if (!engine_->send(j, Side::kDestination, args, 2, op(kIgnore))) return Step::kWait;
  }
  restart(j);
  prepare(j);
  return take_step(j);
}

void Rewriter::give_up(uint32_t j) {
  state_[j].phase = Phase::kIdle;
  engine_->abandon(j);
}

void Rewriter::error(uint32_t j, Side side, std::string_view command, const redisReply* r) {
  const std::string msg =
      resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
  if (resp::is_error(r) && engine_->handle_error(j, side, command, msg)) return;
  fail(j, std::string(command) + ": " + msg);
}

void Rewriter::fail(uint32_t j, std::string message) {
  discard(j, Outcome::kFailed, "rewrite: " + std::move(message));
}

// ---- prepare ----

void Rewriter::on_pttl(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (!resp::is_integer(r)) return error(j, Side::kSource, "PTTL", r);
  job.pttl = r->integer;
  if (job.pttl == -2) return discard(j, Outcome::kVanished);
  if (!job.type.empty()) begin_read(j);  // else the TYPE reply follows
}

void Rewriter::on_type(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (!resp::is_string(r)) return error(j, Side::kSource, "TYPE", r);
  if (job.pttl == -2) return;  // vanished already
  job.type = std::string(resp::text(r));
  if (job.type == "none") return discard(j, Outcome::kVanished);
  begin_read(j);
}

void Rewriter::begin_read(uint32_t j) {
  State& st = state_[j];
  const std::string& t = engine_->job(j).type;
  st.kind = value::type_kind(t);
  if (st.kind == value::Kind::kModule || st.kind == value::Kind::kUnknown) {
    return fail(j, "type '" + t +
                       "' (a module's) cannot be rewritten: copy it with the dump path between servers that "
                       "read each other's DUMP payloads, or with the module's own tools");
  }
  st.phase = Phase::kRead;
  st.at = rewrite::first_cursor(st.kind);
  read_next(j);
}

// ---- chunks ----

void Rewriter::read_next(uint32_t j) {
  State& st = state_[j];
  if (st.phase != Phase::kRead || st.reading || st.at.done) return;
  // Bounded memory: a read goes out only while the window's bytes have room. A key with writes
  // unacknowledged reads on only while they are few; their acknowledgements call back here. A key with
  // nothing in flight waits in line and is woken when bytes are released. The bytes held then belong to
  // commands in flight, which always end, so every key makes progress.
  const bool room = engine_->bytes_held() < engine_->options().window.bytes;
  if (st.writes > 0 && (st.write_bytes >= kMaxWriteBytes || !room)) return;
  if (!room) {
    if (!st.waiting) {
      st.waiting = true;
      waiting_.push_back(j);
    }
    return;
  }
  st.waiting = false;
  const rewrite::ReadCommand read(st.kind, st.at, engine_->job(j).key);
  st.reading = true;
  st.read_charge = expected_read(st);
  update_held(j);
  engine_->send(j, Side::kSource, read.words().data(), read.words().size(), op(kRead));
}

std::size_t Rewriter::expected_read(const State& st) const noexcept {
  if (st.last_read > 0) return st.last_read;  // element counts adapt to keep chunks alike
  if (st.options.size_hint > 0) {
    return static_cast<std::size_t>(std::min<uint64_t>(st.options.size_hint, rewrite::kChunkBytes));
  }
  return static_cast<std::size_t>(first_read_mean_);
}

void Rewriter::note_read(uint32_t j, std::size_t bytes, bool first) {
  // What the next read of this key, and the first read of a key of unknown size, is expected to bring.
  State& st = state_[j];
  st.last_read = std::max<std::size_t>(bytes, 1);
  if (first) first_read_mean_ = 0.9 * first_read_mean_ + 0.1 * static_cast<double>(st.last_read);
}

void Rewriter::on_read(uint32_t j, resp::Reply reply) {
  State& st = state_[j];
  const redisReply* r = reply.get();
  st.reading = false;
  // The reply is here: its charge goes, the writes made of it are charged instead.
  st.read_charge = 0;
  update_held(j);
  const char* name = rewrite::read_name(st.kind);
  if (resp::is_error(r)) return error(j, Side::kSource, name, r);
  if (st.kind == value::Kind::kHash) return on_hash_page(j, std::move(reply));
  const bool first = !st.created;
  writes_.clear();
  const Chunk chunk = rewrite::translate(st.kind, r, st.at, st.temp, first, writes_);
  switch (chunk.status) {
    case Chunk::Status::kOk: break;
    case Chunk::Status::kEmptyString: {
      // An empty string, or a key deleted since TYPE: only EXISTS can tell.
      const std::string_view ex[] = {"EXISTS", engine_->job(j).key};
      engine_->send(j, Side::kSource, ex, 2, op(kExistsSource));
      return;
    }
    default: return error(j, Side::kSource, name, r);
  }
  note_read(j, chunk.bytes, first);
  if (st.kind != value::Kind::kString)
    st.at.count = rewrite::adapt_count(chunk.bytes, chunk.elements, st.at.count);
  if (st.kind == value::Kind::kStream) {
    // One XADD per entry; the metadata is read at once, its writes queue behind the entries'.
    if (!write_all(j, op(kWrite))) return;
    if (st.at.done) return stream_meta(j);
    return maybe_advance(j);
  }
  chunk_written(j, first);
}

void Rewriter::on_hash_page(uint32_t j, resp::Reply reply) {
  State& st = state_[j];
  const redisReply* items = rewrite::scan_page(reply.get(), st.at, true);
  if (items == nullptr) return error(j, Side::kSource, "HSCAN", reply.get());
  if (items->elements == 0 || !engine_->options().source_field_ttls)
    return write_hash_chunk(j, items, nullptr);
  // The fields' TTLs are read before anything of the page is written; the page stays charged to the window
  // meanwhile.
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < items->elements; ++i)
    bytes += items->element[i]->len;
  writes_.clear();
  rewrite::field_ttl_query(engine_->job(j).key, items, writes_);
  st.reading = true;
  st.read_charge = bytes;
  update_held(j);
  st.ttl_sent_at = std::chrono::steady_clock::now();
  const auto ask = writes_.command(0);
  st.hash_chunk = std::move(reply);  // `ask` points into it
  engine_->send(j, Side::kSource, ask.data(), ask.size(), op(kFieldTtl));
}

void Rewriter::on_field_ttl(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  st.reading = false;
  st.read_charge = 0;
  update_held(j);
  resp::Reply page = std::move(st.hash_chunk);
  if (!page) return;  // the key started again meanwhile
  const redisReply* items = page.get()->element[1];
  if (resp::is_error(r) && resp::text(r).find("unknown command") != std::string_view::npos) {
    // A source of unknown version without field expiration: its fields have no TTLs.
    return write_hash_chunk(j, items, nullptr);
  }
  if (!resp::is_array(r) || r->elements * 2 != items->elements) return error(j, Side::kSource, "HPTTL", r);
  write_hash_chunk(j, items, r);
}

void Rewriter::write_hash_chunk(uint32_t j, const redisReply* items, const redisReply* ttls) {
  State& st = state_[j];
  const bool first = !st.created;
  const engine::DestinationTraits& dst = engine_->options().destination;
  rewrite::FieldTtlTarget target;
  target.destination_has = dst.field_ttls;
  target.drop = engine_->options().drop_field_ttls;
  target.clock = &engine_->destination_clock(j);
  target.asked_at = st.ttl_sent_at;
  target.in_flight_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - st.ttl_sent_at)
          .count();
  writes_.clear();
  const rewrite::HashChunk chunk = rewrite::translate_hash(items, ttls, target, st.temp, writes_);
  switch (chunk.status) {
    case Chunk::Status::kOk: break;
    case Chunk::Status::kFieldTtlsRefused:
      return fail(j, "a hash field has a TTL, and the destination" +
                         (dst.server.empty() ? std::string() : " (" + dst.server + ")") +
                         " has no hash field expiration (Redis >= 7.4, Valkey >= 9.0): copy such hashes "
                         "without their field TTLs with --drop-field-ttls (DROP_FIELD_TTLS=1), or "
                         "migrate onto a server with field expiration");
    default: return error(j, Side::kSource, "HPTTL", ttls);
  }
  st.fields_expired += chunk.fields_expired;
  st.field_ttls_dropped = st.field_ttls_dropped || chunk.dropped;
  note_read(j, chunk.bytes, first);
  st.at.count = rewrite::adapt_count(chunk.bytes, chunk.elements, st.at.count);
  if (!chunk.expiring) return chunk_written(j, first);
  // The field TTLs go on the temporary key right behind its fields, so the key is never put in place
  // without them; no finalize is pipelined behind them (a failed HPEXPIREAT must stop the key).
  if (!write_all(j, op(kWrite))) return;
  st.field_expiring = true;
  maybe_advance(j);
}

void Rewriter::chunk_written(uint32_t j, bool first) {
  State& st = state_[j];
  if (writes_.empty()) {
    // Nothing (more) to write. A collection that yields nothing at all was deleted since TYPE (or, a hash,
    // every field's TTL ran out on the way).
    if (!st.created && st.at.done) {
      return discard(j, st.fields_expired > 0 ? Outcome::kExpired : Outcome::kVanished);
    }
    return st.at.done ? maybe_advance(j) : read_next(j);
  }
  // The whole value in one command: its finalize is pipelined right behind it. Should the write fail, the
  // temporary key does not exist and the RENAME fails too, so nothing half-made is ever put in place.
  const bool only_write = first && st.at.done && st.writes == 0;
  if (!write_all(j, op(kWrite))) return;
  if (only_write) return finalize(j);
  maybe_advance(j);
}

void Rewriter::on_exists_source(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (!resp::is_integer(r)) return error(j, Side::kSource, "EXISTS", r);
  if (r->integer == 0) return discard(j, Outcome::kVanished);
  const std::string_view args[] = {"SET", st.temp, ""};
  if (!write(j, args, 0, op(kWrite))) return;
  finalize(j);
}

bool Rewriter::write_all(uint32_t j, uint8_t write_op) {
  for (std::size_t i = 0; i < writes_.size(); ++i) {
    if (!write(j, writes_.command(i), writes_.bytes(i), write_op)) return false;
  }
  return true;
}

bool Rewriter::write(uint32_t j, std::span<const std::string_view> args, std::size_t bytes,
                     uint8_t write_op) {
  State& st = state_[j];
  const bool first = !st.created;
  if (!engine_->send(j, Side::kDestination, args.data(), args.size(), write_op)) return false;
  st.created = true;
  ++st.writes;
  st.write_sizes.push_back(bytes);
  st.write_bytes += bytes;
  st.total_bytes += bytes;
  // A key of more than one read gets a guard expiry, so a run killed half-way leaves no temporary key for
  // long; finalize replaces it with the key's own expiry, or removes it. (A key read in one go is put in
  // place a round trip or two later.)
  if (first && !st.at.done) {
    const IntText ms(kGuardExpiryMs);
    const std::string_view guard[] = {"PEXPIRE", st.temp, ms.view()};
    if (!engine_->send(j, Side::kDestination, guard, 3, op(kIgnore))) return false;
    st.guarded = true;
  }
  update_held(j);
  return true;
}

void Rewriter::on_write(uint32_t j, uint8_t code, const redisReply* r) {
  State& st = state_[j];
  if (st.writes > 0) {
    --st.writes;
    st.write_bytes -= st.write_sizes[st.write_head++];
    if (st.write_head == st.write_sizes.size()) {
      st.write_sizes.clear();
      st.write_head = 0;
    }
    update_held(j);
  }
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (engine_->handle_error(j, Side::kDestination, "write", msg)) return;
    if (!st.finalize_sent) return fail(j, "write to the temporary key: " + msg);
    // The RENAME behind it fails too ("no such key"): the key fails with this message.
    if (st.message.empty()) st.message = "write to the temporary key: " + msg;
    return;
  }
  if (code == op(kClaim) && resp::is_array(r) && r->elements == 0) {
    // XCLAIM ... FORCE ignores an ID whose entry was deleted from the stream: that pending entry is lost.
    ++st.not_recreated;
  }
  if (st.finalize_sent) return;
  maybe_advance(j);
}

// Reads on, or goes to the next phase once everything read is written.
void Rewriter::maybe_advance(uint32_t j) {
  State& st = state_[j];
  switch (st.phase) {
    case Phase::kRead:
      if (!st.at.done) return read_next(j);
      if (st.writes > 0) return;
      return st.kind == value::Kind::kStream ? stream_meta(j) : finalize(j);
    case Phase::kStreamGroup:
      if (st.group >= st.groups.size() && st.writes == 0) return finalize(j);
      if (st.group < st.groups.size() && !st.reading) read_pending(j);
      return;
    default: return;
  }
}

void Rewriter::update_held(uint32_t j) { hold(j, state_[j].write_bytes + state_[j].read_charge); }

void Rewriter::hold(uint32_t j, std::size_t bytes) {
  const bool released = bytes < engine_->job(j).held;
  engine_->hold_bytes(j, bytes);
  if (released) wake();
}

void Rewriter::wake() {
  if (waking_ || engine_ == nullptr) return;
  waking_ = true;
  while (!waiting_.empty() && engine_->bytes_held() < engine_->options().window.bytes) {
    const uint32_t j = waiting_.front();
    waiting_.pop_front();
    State& st = state_[j];
    if (!st.waiting) continue;  // started again, or read already
    st.waiting = false;
    if (!engine_->job(j).active || st.phase != Phase::kRead) continue;
    read_next(j);
  }
  waking_ = false;
}

}  // namespace rmig::copy
