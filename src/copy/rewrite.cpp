#include "copy/rewrite.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "copy/temp_key.hpp"
#include "copy/ttl.hpp"
#include "util/escape.hpp"

namespace rmig::copy {

namespace {

using Side = engine::Engine::Side;

constexpr std::size_t kPendingPage = 1000;  // XPENDING entries per read
// The guard group that creates an empty stream without entries or groups (XGROUP CREATE ... MKSTREAM).
constexpr std::string_view kMakeStreamGroup = "redis-migrate:mkstream";

std::string int_text(int64_t v) {
  std::array<char, 24> buf{};
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), r.ptr);
}

// A short command's arguments, without an allocation.
struct Args {
  std::array<std::string_view, 16> v{};
  std::size_t n = 0;
  Args(std::initializer_list<std::string_view> l) {
    for (auto a : l)
      v[n++] = a;
  }
  void push(std::string_view a) { v[n++] = a; }
};

// The smallest stream ID after `id` ("ms-seq"); empty when `id` does not parse or is the largest.
std::string next_stream_id(std::string_view id) {
  const std::size_t dash = id.find('-');
  if (dash == std::string_view::npos) return {};
  uint64_t ms = 0, seq = 0;
  if (std::from_chars(id.data(), id.data() + dash, ms).ec != std::errc() ||
      std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq).ec != std::errc()) {
    return {};
  }
  if (seq == UINT64_MAX) {
    if (ms == UINT64_MAX) return {};
    ++ms;
    seq = 0;
  } else {
    ++seq;
  }
  return std::to_string(ms) + "-" + std::to_string(seq);
}

// Field -> value of a flat RESP2 map (XINFO); only scalar values.
std::string map_field(const redisReply* r, std::string_view field) {
  if (!resp::is_array(r)) return {};
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    const redisReply* k = r->element[i];
    const redisReply* v = r->element[i + 1];
    if (!resp::is_string(k)) continue;
    if (resp::text(k) != field) continue;
    if (resp::is_integer(v)) return int_text(v->integer);
    if (resp::is_string(v)) return std::string(resp::text(v));
    return {};
  }
  return {};
}

}  // namespace

void Rewriter::attach(engine::Engine& engine) {
  engine_ = &engine;
  state_.clear();
  state_.resize(engine.window_size());
}

void Rewriter::start(uint32_t j, uint64_t size_hint) {
  State& st = state_[j];
  const engine::Job& job = engine_->job(j);
  const uint32_t attempt = st.attempt + 1;
  st = State{};
  st.attempt = attempt;
  st.size_hint = size_hint;
  st.temp = temp_key(job.target(), engine_->options().selection.own_prefix,
                     engine_->options().run_id + ":" + std::to_string(j) + ":" + std::to_string(attempt));
  hold(j, 0);
  prepare(j);
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

void Rewriter::on_reply(uint32_t j, uint8_t code, resp::Reply reply) {
  State& st = state_[j];
  const redisReply* r = reply.get();
  const auto o = static_cast<Op>(code - first_op_);
  // Replies of commands sent before the key moved on to deleting its temporary key.
  if (st.phase == Phase::kDiscard && o != kDiscard) return;
  switch (o) {
    case kPttl: return on_pttl(j, r);
    case kType: return on_type(j, r);
    case kRead: return on_read(j, std::move(reply));
    case kExistsSource: return on_exists_source(j, r);
    case kStreamInfo: return on_stream_info(j, r);
    case kStreamGroups: return on_stream_groups(j, r);
    case kConsumers: return on_consumers(j, r);
    case kPending: return on_pending(j, r);
    case kWrite:
    case kClaim: return on_write(j, code, r);
    case kExpire:
      // Its outcome shows in the RENAME's reply (a key whose expiry passed is gone); only errors matter.
      if (resp::is_error(r)) error(j, Side::kDestination, "PEXPIREAT", r);
      return;
    case kRename: return on_rename(j, r);
    case kDiscard: return settle(j);
    case kCheckTemp: return on_check_temp(j, r);
    case kIgnore: return;
    case kRecheck: return on_recheck(j, r);
    case kFieldTtl: return on_field_ttl(j, r);
  }
}

void Rewriter::resend(uint32_t j) {
  State& st = state_[j];
  switch (st.phase) {
    case Phase::kFinalize:
    case Phase::kCheck: {
      // The RENAME may have run before the connection dropped: it did if the temporary key is gone.
      st.phase = Phase::kCheck;
      st.writes = 0;  // their replies were lost with the connection
      st.write_sizes.clear();
      st.write_head = 0;
      st.write_bytes = 0;
      const std::string_view args[] = {"EXISTS", st.temp};
      engine_->send(j, Side::kDestination, args, 2, op(kCheckTemp));
      return;
    }
    case Phase::kDiscard: {
      if (!st.created) return settle(j);
      const std::string_view args[] = {delete_command(engine_->options().destination_scripts), st.temp};
      engine_->send(j, Side::kDestination, args, 2, op(kDiscard));
      return;
    }
    default: break;
  }
  // Anything else starts the key again, under the same temporary name, emptied first (the UNLINK runs after
  // every write sent before it on that connection).
  if (st.created) {
    const std::string_view args[] = {delete_command(engine_->options().destination_scripts), st.temp};
    if (!engine_->send(j, Side::kDestination, args, 2, op(kIgnore))) return;
  }
  const std::string temp = st.temp;
  const uint32_t attempt = st.attempt;
  const uint64_t size_hint = st.size_hint;
  st = State{};
  st.temp = temp;
  st.attempt = attempt;
  st.size_hint = size_hint;
  hold(j, 0);
  prepare(j);
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
  st.type = t == "string"   ? Type::kString
            : t == "list"   ? Type::kList
            : t == "set"    ? Type::kSet
            : t == "zset"   ? Type::kZset
            : t == "hash"   ? Type::kHash
            : t == "stream" ? Type::kStream
                            : Type::kUnknown;
  if (st.type == Type::kUnknown) {
    return fail(j, "type '" + t +
                       "' (a module's) cannot be rewritten: copy it with the dump path between servers that "
                       "read each other's DUMP payloads, or with the module's own tools");
  }
  st.phase = Phase::kRead;
  st.cursor = st.type == Type::kStream ? "-" : "0";
  st.offset = 0;
  st.count = kMaxChunkElements;
  read_next(j);
}

// ---- chunks ----

void Rewriter::read_next(uint32_t j) {
  State& st = state_[j];
  if (st.phase != Phase::kRead || st.reading || st.source_done) return;
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
  const engine::Job& job = engine_->job(j);
  const std::string count = int_text(static_cast<int64_t>(st.count));
  std::string a, b;
  std::array<std::string_view, 6> args{};
  std::size_t argc = 0;
  switch (st.type) {
    case Type::kString:
      a = int_text(st.offset);
      b = int_text(st.offset + static_cast<int64_t>(kStringChunk) - 1);
      args = {"GETRANGE", job.key, a, b};
      argc = 4;
      break;
    case Type::kList:
      a = int_text(st.offset);
      b = int_text(st.offset + static_cast<int64_t>(st.count) - 1);
      args = {"LRANGE", job.key, a, b};
      argc = 4;
      break;
    case Type::kSet:
      args = {"SSCAN", job.key, st.cursor, "COUNT", count};
      argc = 5;
      break;
    case Type::kZset:
      // ZSCAN, like SSCAN and HSCAN: every member present for the whole copy is returned, whatever is added
      // or removed meanwhile (paging by rank would skip members when higher ones are removed).
      args = {"ZSCAN", job.key, st.cursor, "COUNT", count};
      argc = 5;
      break;
    case Type::kHash:
      args = {"HSCAN", job.key, st.cursor, "COUNT", count};
      argc = 5;
      break;
    case Type::kStream:
      args = {"XRANGE", job.key, st.cursor, "+", "COUNT", count};
      argc = 6;
      break;
    case Type::kUnknown: return;
  }
  st.reading = true;
  st.read_charge = expected_read(st);
  update_held(j);
  engine_->send(j, Side::kSource, args.data(), argc, op(kRead));
}

std::size_t Rewriter::expected_read(const State& st) const noexcept {
  if (st.last_read > 0) return st.last_read;  // element counts adapt to keep chunks alike
  if (st.size_hint > 0) return static_cast<std::size_t>(std::min<uint64_t>(st.size_hint, kChunkBytes));
  return static_cast<std::size_t>(first_read_mean_);
}

void Rewriter::on_read(uint32_t j, resp::Reply reply) {
  State& st = state_[j];
  const engine::Job& job = engine_->job(j);
  const redisReply* r = reply.get();
  st.reading = false;
  // The reply is here: its charge goes, the writes made of it are charged instead.
  st.read_charge = 0;
  update_held(j);
  static constexpr const char* kReadName[] = {"", "GETRANGE", "LRANGE", "SSCAN", "ZSCAN", "HSCAN", "XRANGE"};
  const char* name = kReadName[static_cast<int>(st.type)];
  if (resp::is_error(r)) return error(j, Side::kSource, name, r);

  std::vector<std::string_view> args;
  std::size_t elements = 0;
  std::size_t bytes = 0;
  const bool first = !st.created;
  auto note = [&](std::size_t got_bytes) {
    // What the next read of this key, and the first read of a key of unknown size, is expected to bring.
    st.last_read = std::max<std::size_t>(got_bytes, 1);
    if (first) first_read_mean_ = 0.9 * first_read_mean_ + 0.1 * static_cast<double>(st.last_read);
  };
  auto adapt = [&](std::size_t got) {
    // Aim at kChunkBytes per read, whatever the element size.
    if (got == 0 || bytes == 0) return;
    const std::size_t per = std::max<std::size_t>(1, bytes / got);
    st.count = std::clamp<std::size_t>(kChunkBytes / per, 1, kMaxChunkElements);
  };

  switch (st.type) {
    case Type::kString: {
      if (!resp::is_string(r)) return error(j, Side::kSource, name, r);
      const std::string_view chunk = resp::text(r);
      st.source_done = chunk.size() < kStringChunk;
      st.offset += static_cast<int64_t>(chunk.size());
      if (chunk.empty() && first) {
        // An empty string, or a key deleted since TYPE: only EXISTS can tell.
        const std::string_view ex[] = {"EXISTS", job.key};
        engine_->send(j, Side::kSource, ex, 2, op(kExistsSource));
        return;
      }
      if (chunk.empty()) break;
      args = {first ? "SET" : "APPEND", st.temp, chunk};
      bytes = chunk.size();
      break;
    }
    case Type::kList: {
      if (!resp::is_array(r)) return error(j, Side::kSource, name, r);
      elements = r->elements;
      st.source_done = elements < st.count;
      st.offset += static_cast<int64_t>(elements);
      if (elements == 0) break;
      args.reserve(elements + 2);
      args.push_back("RPUSH");
      args.push_back(st.temp);
      for (std::size_t i = 0; i < elements; ++i) {
        args.push_back(resp::text(r->element[i]));
        bytes += r->element[i]->len;
      }
      adapt(elements);
      break;
    }
    case Type::kSet:
    case Type::kZset:
    case Type::kHash: {
      if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
          !resp::is_array(r->element[1])) {
        return error(j, Side::kSource, name, r);
      }
      st.cursor = std::string(resp::text(r->element[0]));
      st.source_done = st.cursor == "0";
      const redisReply* items = r->element[1];
      const bool pairs = st.type != Type::kSet;
      if (pairs && items->elements % 2 != 0) return error(j, Side::kSource, name, r);
      if (st.type == Type::kHash) {
        if (items->elements == 0 || !engine_->options().source_field_ttls) {
          return write_hash_chunk(j, items, nullptr);
        }
        // The fields' TTLs are read before anything of the chunk is written; the chunk stays charged to the
        // window meanwhile.
        std::vector<std::string_view> ask;
        ask.reserve(items->elements / 2 + 4);
        const std::string n = int_text(static_cast<int64_t>(items->elements / 2));
        ask.insert(ask.end(), {"HPTTL", job.key, "FIELDS", n});
        for (std::size_t i = 0; i < items->elements; i += 2) {
          ask.push_back(resp::text(items->element[i]));
          bytes += items->element[i]->len + items->element[i + 1]->len;
        }
        st.reading = true;
        st.read_charge = bytes;
        update_held(j);
        st.ttl_sent_at = std::chrono::steady_clock::now();
        st.hash_chunk = std::move(reply);  // `ask` points into it
        engine_->send(j, Side::kSource, ask.data(), ask.size(), op(kFieldTtl));
        return;
      }
      elements = pairs ? items->elements / 2 : items->elements;
      if (elements == 0) break;
      args.reserve(items->elements + 2);
      args.push_back(st.type == Type::kSet ? "SADD" : st.type == Type::kHash ? "HSET" : "ZADD");
      args.push_back(st.temp);
      if (st.type == Type::kZset) {
        // ZSCAN gives member, score; ZADD takes score, member; the score text is the server's exact double.
        // Pairs go in reverse: a listpack-encoded zset comes back in ascending score order, and descending
        // inserts each go in front, where a listpack finds an ascending member's place only after parsing
        // every score before it (O(n^2) strtod per key: 170 us for a 70-member zset, 52 us reversed).
        for (std::size_t i = items->elements; i >= 2; i -= 2) {
          args.push_back(resp::text(items->element[i - 1]));
          args.push_back(resp::text(items->element[i - 2]));
        }
      } else {
        for (std::size_t i = 0; i < items->elements; ++i)
          args.push_back(resp::text(items->element[i]));
      }
      for (std::size_t i = 0; i < items->elements; ++i)
        bytes += items->element[i]->len;
      adapt(elements);
      break;
    }
    case Type::kStream: {
      if (!resp::is_array(r)) return error(j, Side::kSource, name, r);
      elements = r->elements;
      st.source_done = elements < st.count;
      for (std::size_t i = 0; i < elements; ++i) {
        const redisReply* e = r->element[i];
        if (!resp::is_array(e) || e->elements != 2 || !resp::is_string(e->element[0]) ||
            !resp::is_array(e->element[1])) {
          return error(j, Side::kSource, name, r);
        }
        const redisReply* fields = e->element[1];
        std::vector<std::string_view> xadd;
        xadd.reserve(fields->elements + 3);
        xadd.push_back("XADD");
        xadd.push_back(st.temp);
        xadd.push_back(resp::text(e->element[0]));
        std::size_t entry_bytes = e->element[0]->len;
        for (std::size_t k = 0; k < fields->elements; ++k) {
          xadd.push_back(resp::text(fields->element[k]));
          entry_bytes += fields->element[k]->len;
        }
        bytes += entry_bytes;
        if (!write(j, xadd.data(), xadd.size(), entry_bytes, op(kWrite))) return;
      }
      note(bytes);
      if (elements > 0) {
        st.cursor = next_stream_id(resp::text(r->element[elements - 1]->element[0]));
        if (st.cursor.empty()) st.source_done = true;
        adapt(elements);
      }
      // The metadata is read at once; its writes queue behind the entries' on the destination connection.
      if (st.source_done) return stream_meta(j);
      return maybe_advance(j);
    }
    case Type::kUnknown: return;
  }
  note(bytes);
  chunk_written(j, args, bytes, first);
}

void Rewriter::chunk_written(uint32_t j, const std::vector<std::string_view>& args, std::size_t bytes,
                             bool first) {
  State& st = state_[j];
  if (args.empty()) {
    // Nothing (more) to write. A collection that yields nothing at all was deleted since TYPE (or, a hash,
    // every field's TTL ran out on the way).
    if (!st.created && st.source_done) {
      return discard(j, st.fields_expired > 0 ? Outcome::kExpired : Outcome::kVanished);
    }
    return st.source_done ? maybe_advance(j) : read_next(j);
  }
  // The whole value in one command: its finalize is pipelined right behind it. Should the write fail, the
  // temporary key does not exist and the RENAME fails too, so nothing half-made is ever put in place.
  const bool only_write = first && st.source_done && st.writes == 0;
  if (!write(j, args.data(), args.size(), bytes, op(kWrite))) return;
  if (only_write) return finalize(j);
  maybe_advance(j);
}

void Rewriter::on_field_ttl(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  st.reading = false;
  st.read_charge = 0;
  update_held(j);
  resp::Reply chunk = std::move(st.hash_chunk);
  if (!chunk) return;  // the key started again meanwhile
  const redisReply* items = chunk.get()->element[1];
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
  const auto in_flight =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - st.ttl_sent_at)
          .count();
  std::vector<std::string_view> args;
  args.reserve(items->elements + 2);
  args.push_back("HSET");
  args.push_back(st.temp);
  std::size_t bytes = 0;
  std::size_t elements = 0;
  // Absolute expiry (destination unix ms, or remaining ms when its clock is not known) -> fields.
  std::vector<std::pair<int64_t, std::string_view>> expiring;
  for (std::size_t i = 0; i + 1 < items->elements; i += 2) {
    const std::string_view field = resp::text(items->element[i]);
    if (ttls != nullptr) {
      const redisReply* t = ttls->element[i / 2];
      if (!resp::is_integer(t)) return error(j, Side::kSource, "HPTTL", ttls);
      const TtlPlan plan = plan_ttl(t->integer, in_flight);
      if (plan.kind == TtlPlan::Kind::kVanished) continue;  // deleted since HSCAN
      if (plan.kind == TtlPlan::Kind::kExpired) {
        ++st.fields_expired;
        continue;
      }
      if (plan.kind == TtlPlan::Kind::kExpiring) {
        if (!dst.field_ttls) {
          if (!engine_->options().drop_field_ttls) {
            return fail(j,
                        "a hash field has a TTL, and the destination" +
                            (dst.server.empty() ? std::string() : " (" + dst.server + ")") +
                            " has no hash field expiration (Redis >= 7.4, Valkey >= 9.0): copy such hashes "
                            "without their field TTLs with --drop-field-ttls (DROP_FIELD_TTLS=1), or "
                            "migrate onto a server with field expiration");
          }
          st.field_ttls_dropped = true;
        } else {
          const engine::ServerClock& clock = engine_->destination_clock(j);
          expiring.emplace_back(clock.known()
                                    ? clock.unix_ms_at(st.ttl_sent_at + std::chrono::milliseconds(t->integer))
                                    : plan.restore_ttl_ms,
                                field);
        }
      }
    }
    args.push_back(field);
    args.push_back(resp::text(items->element[i + 1]));
    bytes += items->element[i]->len + items->element[i + 1]->len;
    ++elements;
  }
  // What the next read is expected to bring, and how many fields it asks for (as for the other types).
  st.last_read = std::max<std::size_t>(bytes, 1);
  if (first) first_read_mean_ = 0.9 * first_read_mean_ + 0.1 * static_cast<double>(st.last_read);
  if (elements > 0 && bytes > 0) {
    const std::size_t per = std::max<std::size_t>(1, bytes / elements);
    st.count = std::clamp<std::size_t>(kChunkBytes / per, 1, kMaxChunkElements);
  }
  if (elements == 0) args.clear();
  if (expiring.empty()) return chunk_written(j, args, bytes, first);
  // The field TTLs go on the temporary key right behind its fields, so the key is never put in place
  // without them; equal times share one command.
  if (!write(j, args.data(), args.size(), bytes, op(kWrite))) return;
  std::sort(expiring.begin(), expiring.end());
  const bool absolute = engine_->destination_clock(j).known();
  for (std::size_t i = 0; i < expiring.size();) {
    std::size_t k = i;
    while (k < expiring.size() && expiring[k].first == expiring[i].first)
      ++k;
    const std::string when = int_text(expiring[i].first);
    const std::string n = int_text(static_cast<int64_t>(k - i));
    std::vector<std::string_view> expire{absolute ? "HPEXPIREAT" : "HPEXPIRE", st.temp, when, "FIELDS", n};
    for (std::size_t f = i; f < k; ++f)
      expire.push_back(expiring[f].second);
    if (!write(j, expire.data(), expire.size(), 0, op(kWrite))) return;
    i = k;
  }
  st.field_expiring = true;
  maybe_advance(j);
}

void Rewriter::on_exists_source(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (!resp::is_integer(r)) return error(j, Side::kSource, "EXISTS", r);
  if (r->integer == 0) return discard(j, Outcome::kVanished);
  const std::string_view args[] = {"SET", st.temp, ""};
  if (!write(j, args, 3, 0, op(kWrite))) return;
  finalize(j);
}

bool Rewriter::write(uint32_t j, const std::string_view* args, std::size_t argc, std::size_t bytes,
                     uint8_t write_op) {
  State& st = state_[j];
  const bool first = !st.created;
  if (!engine_->send(j, Side::kDestination, args, argc, write_op)) return false;
  st.created = true;
  ++st.writes;
  st.write_sizes.push_back(bytes);
  st.write_bytes += bytes;
  st.total_bytes += bytes;
  // A key of more than one read gets a guard expiry, so a run killed half-way leaves no temporary key for
  // long; finalize replaces it with the key's own expiry, or removes it. (A key read in one go is put in
  // place a round trip or two later.)
  if (first && !st.source_done) {
    const std::string ms = int_text(kGuardExpiryMs);
    const std::string_view guard[] = {"PEXPIRE", st.temp, ms};
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
    ++state_[j].not_recreated;
  }
  if (st.finalize_sent) return;
  maybe_advance(j);
}

// Reads on, or goes to the next phase once everything read is written.
void Rewriter::maybe_advance(uint32_t j) {
  State& st = state_[j];
  switch (st.phase) {
    case Phase::kRead:
      if (!st.source_done) return read_next(j);
      if (st.writes > 0) return;
      return st.type == Type::kStream ? stream_meta(j) : finalize(j);
    case Phase::kStreamGroup:
      if (st.group >= st.groups.size() && st.writes == 0) return finalize(j);
      if (st.group < st.groups.size() && !st.reading) read_pending(j);
      return;
    default: return;
  }
}

// ---- streams ----

void Rewriter::stream_meta(uint32_t j) {
  State& st = state_[j];
  const engine::Job& job = engine_->job(j);
  st.phase = Phase::kStreamMeta;
  const std::string_view info[] = {"XINFO", "STREAM", job.key};
  const std::string_view groups[] = {"XINFO", "GROUPS", job.key};
  if (!engine_->send(j, Side::kSource, info, 3, op(kStreamInfo))) return;
  engine_->send(j, Side::kSource, groups, 3, op(kStreamGroups));
}

void Rewriter::on_stream_info(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (!resp::is_array(r)) return error(j, Side::kSource, "XINFO STREAM", r);
  st.last_id = map_field(r, "last-generated-id");
  st.entries_added = map_field(r, "entries-added");
  st.max_deleted = map_field(r, "max-deleted-entry-id");
}

void Rewriter::on_stream_groups(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (!resp::is_array(r)) return error(j, Side::kSource, "XINFO GROUPS", r);
  if (st.last_id.empty()) return fail(j, "XINFO STREAM gave no last-generated-id");
  st.groups.clear();
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* g = r->element[i];
    Group group{map_field(g, "name"), map_field(g, "last-delivered-id"), map_field(g, "entries-read")};
    if (group.name.empty() || group.last_delivered.empty()) return error(j, Side::kSource, "XINFO GROUPS", r);
    st.groups.push_back(std::move(group));
  }
  const engine::DestinationTraits& dst = engine_->options().destination;
  // No entries: the stream is made empty by its first group (put at its last-delivered ID below with SETID),
  // or by a guard group dropped right away.
  const bool made_by_group = !st.created && !st.groups.empty();
  if (!st.created) {
    const Args make{"XGROUP", "CREATE",
                    st.temp,  made_by_group ? std::string_view(st.groups[0].name) : kMakeStreamGroup,
                    "0",      "MKSTREAM"};
    if (!write(j, make.v.data(), make.n, 0, op(kWrite))) return;
    if (!made_by_group) {
      const Args drop{"XGROUP", "DESTROY", st.temp, kMakeStreamGroup};
      if (!write(j, drop.v.data(), drop.n, 0, op(kWrite))) return;
    }
  }
  Args setid{"XSETID", st.temp, st.last_id};
  if (dst.stream_metadata && !st.entries_added.empty()) {
    setid.push("ENTRIESADDED");
    setid.push(st.entries_added);
  }
  if (dst.stream_metadata && !st.max_deleted.empty() && st.max_deleted != "0-0") {
    setid.push("MAXDELETEDID");
    setid.push(st.max_deleted);
  }
  if (!write(j, setid.v.data(), setid.n, 0, op(kWrite))) return;
  for (std::size_t i = 0; i < st.groups.size(); ++i) {
    const Group& g = st.groups[i];
    Args create{"XGROUP", i == 0 && made_by_group ? "SETID" : "CREATE", st.temp, g.name, g.last_delivered};
    if (dst.stream_metadata && !g.entries_read.empty()) {
      create.push("ENTRIESREAD");
      create.push(g.entries_read);
    }
    if (!write(j, create.v.data(), create.n, 0, op(kWrite))) return;
  }
  st.phase = Phase::kStreamGroup;
  st.group = 0;
  next_group(j);
}

void Rewriter::next_group(uint32_t j) {
  State& st = state_[j];
  if (st.group >= st.groups.size()) return maybe_advance(j);
  const engine::Job& job = engine_->job(j);
  const std::string_view args[] = {"XINFO", "CONSUMERS", job.key, st.groups[st.group].name};
  st.reading = true;
  engine_->send(j, Side::kSource, args, 4, op(kConsumers));
}

void Rewriter::on_consumers(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  st.reading = false;
  if (!resp::is_array(r)) return error(j, Side::kSource, "XINFO CONSUMERS", r);
  const engine::DestinationTraits& dst = engine_->options().destination;
  const std::string& group = st.groups[st.group].name;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const std::string name = map_field(r->element[i], "name");
    const std::string pending = map_field(r->element[i], "pending");
    if (dst.create_consumer) {
      const std::string_view args[] = {"XGROUP", "CREATECONSUMER", st.temp, group, name};
      if (!write(j, args, 5, 0, op(kWrite))) return;
    } else if (pending == "0") {
      // Without CREATECONSUMER (before Redis 6.2) a consumer exists only through its pending entries.
      ++state_[j].not_recreated;
    }
  }
  st.pending_start = "-";
  read_pending(j);
}

void Rewriter::read_pending(uint32_t j) {
  State& st = state_[j];
  if (st.reading) return;
  if (st.writes > 0 && st.write_bytes >= kMaxWriteBytes) return;
  const engine::Job& job = engine_->job(j);
  const std::string count = int_text(static_cast<int64_t>(kPendingPage));
  const std::string_view args[] = {"XPENDING",       job.key, st.groups[st.group].name,
                                   st.pending_start, "+",     count};
  st.reading = true;
  engine_->send(j, Side::kSource, args, 6, op(kPending));
}

void Rewriter::on_pending(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  st.reading = false;
  if (!resp::is_array(r)) return error(j, Side::kSource, "XPENDING", r);
  const std::string& group = st.groups[st.group].name;
  std::string last;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* p = r->element[i];
    // [id, consumer, idle ms, deliveries]
    if (!resp::is_array(p) || p->elements != 4 || !resp::is_integer(p->element[2]) ||
        !resp::is_integer(p->element[3])) {
      return error(j, Side::kSource, "XPENDING", r);
    }
    const std::string idle = int_text(p->element[2]->integer);
    const std::string deliveries = int_text(p->element[3]->integer);
    const std::string_view args[] = {"XCLAIM",     st.temp,
                                     group,        resp::text(p->element[1]),
                                     "0",          resp::text(p->element[0]),
                                     "IDLE",       idle,
                                     "RETRYCOUNT", deliveries,
                                     "FORCE",      "JUSTID"};
    if (!write(j, args, std::size(args), 0, op(kClaim))) return;
    last = std::string(resp::text(p->element[0]));
  }
  if (r->elements == kPendingPage && !(st.pending_start = next_stream_id(last)).empty()) {
    return read_pending(j);
  }
  ++st.group;
  if (st.group < st.groups.size()) return next_group(j);
  maybe_advance(j);
}

// ---- finalize ----

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
    const std::string when = int_text(
        absolute ? clock.unix_ms_at(job.sent_at + std::chrono::milliseconds(job.pttl)) : plan.restore_ttl_ms);
    const std::string_view args[] = {absolute ? "PEXPIREAT" : "PEXPIRE", st.temp, when};
    if (!engine_->send(j, Side::kDestination, args, 3, op(kExpire))) return;
  } else if (st.guarded) {
    const std::string_view args[] = {"PERSIST", st.temp};
    if (!engine_->send(j, Side::kDestination, args, 2, op(kExpire))) return;
  }
  st.probing = job.maybe_duplicate && engine_->options().conflict == engine::ConflictPolicy::kReplace;
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
  const bool replace =
      engine_->options().conflict == engine::ConflictPolicy::kReplace && !st.probing && owner_.may_replace(j);
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
    if (owner_.take_existing(j, st.temp)) {
      st.phase = Phase::kIdle;
      st.created = false;  // the owner's now
      hold(j, 0);
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
  engine_->counters(j).stream_not_recreated += st.not_recreated;
  if (st.field_ttls_dropped) ++engine_->counters(j).field_ttls_dropped;
  owner_.rewritten(j, st.total_bytes, st.duplicate);
}

void Rewriter::discard(uint32_t j, Outcome outcome, std::string message) {
  State& st = state_[j];
  st.outcome = outcome;
  st.message = std::move(message);
  st.phase = Phase::kDiscard;
  if (!st.created) return settle(j);
  const std::string_view args[] = {delete_command(engine_->options().destination_scripts), st.temp};
  engine_->send(j, Side::kDestination, args, 2, op(kDiscard));
}

void Rewriter::settle(uint32_t j) {
  State& st = state_[j];
  st.phase = Phase::kIdle;
  hold(j, 0);
  report::Counters& c = engine_->counters(j);
  switch (st.outcome) {
    case Outcome::kExpired: ++c.expired; return engine_->done(j);
    case Outcome::kVanished: ++c.vanished; return engine_->done(j);
    case Outcome::kExists: return owner_.target_exists(j);
    case Outcome::kFailed:
    case Outcome::kNone: return engine_->fail_key(j, st.message.empty() ? "rewrite failed" : st.message);
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
