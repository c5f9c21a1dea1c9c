#include "seed.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <stdexcept>
#include <string_view>

#include "cluster_slot.hpp"
#include "pipe_stream.hpp"
#include "random_text.hpp"
#include "resp_writer.hpp"

namespace rmbench {
namespace {

constexpr std::size_t kChunkBytes = 1u << 20;
constexpr std::uint64_t kStringsSeed = 0x5354524e;  // "STRN"
constexpr std::uint64_t kMixedSeed = 0x4d495844;    // "MIXD"
constexpr std::uint64_t kBigSeed = 0x42494753;      // "BIGS"
constexpr std::size_t kMsetBatch = 100;
constexpr std::uint64_t kBigBatch = 1000;
constexpr std::int64_t kTtlMinMs = 3600LL * 1000;
constexpr std::int64_t kTtlMaxMs = 6 * 3600LL * 1000;

// prefix + index zero-padded to 8 digits (more when needed).
void make_key(std::string& out, std::string_view prefix, std::uint64_t index, int width = 8) {
  char digits[24];
  const auto res = std::to_chars(digits, digits + sizeof digits, index);
  const auto len = static_cast<int>(res.ptr - digits);
  out.assign(prefix);
  if (len < width) out.append(static_cast<std::size_t>(width - len), '0');
  out.append(digits, static_cast<std::size_t>(len));
}

// Fills the stream from a step function: fill(writer) appends some commands and returns false when done.
class GeneratedSource : public CommandSource {
 public:
  explicit GeneratedSource(std::function<bool(CommandWriter&)> fill) : fill_(std::move(fill)), writer_(buf_) {
    buf_.reserve(kChunkBytes * 2);
  }
  Chunk next() override {
    buf_.clear();
    writer_.reset_count();
    while (more_ && buf_.size() < kChunkBytes)
      more_ = fill_(writer_);
    total_ += writer_.commands();
    return Chunk{buf_, writer_.commands()};
  }
  std::uint64_t total_commands() const noexcept { return total_; }

 private:
  std::function<bool(CommandWriter&)> fill_;
  std::string buf_;
  CommandWriter writer_;
  bool more_ = true;
  std::uint64_t total_ = 0;
};

StreamResult stream_to(const Target& target, GeneratedSource& source) {
  Connection conn(target.host, target.port);
  StreamResult r = run_stream(conn, source);
  if (r.errors > 0) {
    throw std::runtime_error(conn.where() + " refused " + std::to_string(r.errors) +
                             " seeding commands; first error: " + r.first_error);
  }
  return r;
}

}  // namespace

SlotFilter SlotFilter::parse(const std::string& text) {
  SlotFilter filter;
  std::string_view rest(text);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto dash = item.find('-');
    unsigned lo = 0;
    unsigned hi = 0;
    const std::string_view lo_text = item.substr(0, dash);
    const std::string_view hi_text = dash == std::string_view::npos ? lo_text : item.substr(dash + 1);
    const auto r1 = std::from_chars(lo_text.data(), lo_text.data() + lo_text.size(), lo);
    const auto r2 = std::from_chars(hi_text.data(), hi_text.data() + hi_text.size(), hi);
    if (r1.ec != std::errc() || r2.ec != std::errc() || r1.ptr != lo_text.data() + lo_text.size() ||
        r2.ptr != hi_text.data() + hi_text.size() || lo > hi || hi > 16383) {
      throw std::invalid_argument("bad slot range '" + std::string(item) + "' (want LO-HI within 0-16383)");
    }
    filter.ranges_.emplace_back(lo, hi);
  }
  return filter;
}

bool SlotFilter::wants(std::string_view key) const {
  if (ranges_.empty()) return true;
  const unsigned slot = key_slot(key);
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [slot](const auto& r) { return slot >= r.first && slot <= r.second; });
}

SeedStats seed_strings(const Target& target, std::uint64_t count, std::size_t value_size,
                       const SlotFilter& filter) {
  if (value_size > TextPool::kMaxSlice) throw std::invalid_argument("value size above 1 MiB");
  const double start = monotonic_seconds();
  const TextPool pool(kStringsSeed);
  SeedStats stats;
  std::uint64_t next = 0;
  std::vector<std::string> keys(kMsetBatch);
  std::vector<std::string_view> values(kMsetBatch);
  GeneratedSource source([&](CommandWriter& w) {
    std::size_t n = 0;
    for (; next < count && n < kMsetBatch; ++next) {
      make_key(keys[n], "str:", next);
      if (!filter.wants(keys[n])) continue;
      Rng rng = Rng::for_key(kStringsSeed, next);
      values[n] = pool.slice(rng, value_size);
      ++n;
    }
    if (n > 0 && filter.filtering()) {
      for (std::size_t i = 0; i < n; ++i) {
        w.begin(3);
        w.arg("SET");
        w.arg(keys[i]);
        w.arg(values[i]);
      }
      stats.keys += n;
      stats.raw_bytes += n * value_size;
    } else if (n > 0) {
      w.begin(1 + 2 * n);
      w.arg("MSET");
      for (std::size_t i = 0; i < n; ++i) {
        w.arg(keys[i]);
        w.arg(values[i]);
      }
      stats.keys += n;
      stats.raw_bytes += n * value_size;
    }
    return next < count;
  });
  stream_to(target, source);
  stats.commands = source.total_commands();
  stats.elapsed_s = monotonic_seconds() - start;
  return stats;
}

SeedStats seed_mixed(const Target& target, std::uint64_t count, double ttl_fraction,
                     std::uint64_t target_bytes, const SlotFilter& filter) {
  static constexpr std::string_view kTypes[] = {"string", "list", "set", "zset", "hash", "stream"};
  const double start = monotonic_seconds();
  const TextPool pool(kMixedSeed);
  const double mean = count > 0 ? static_cast<double>(target_bytes) / static_cast<double>(count) : 0;
  SeedStats stats;
  std::uint64_t next = 0;
  std::string key;
  std::string field;
  std::vector<std::string_view> parts;
  GeneratedSource source([&](CommandWriter& w) {
    const std::uint64_t index = next++;
    if (index >= count) return false;
    const std::size_t type = index % 6;
    make_key(key, "mixed:" + std::string(kTypes[type]) + ":", index);
    if (!filter.wants(key)) return next < count;
    Rng rng = Rng::for_key(kMixedSeed, index);
    const auto size =
        static_cast<std::size_t>(std::clamp(rng.exponential(mean), 16.0, 32.0 * std::max(mean, 16.0)));
    std::size_t bytes = 0;
    parts.clear();
    switch (type) {
      case 0: {
        const auto value = pool.slice(rng, std::min(size, TextPool::kMaxSlice));
        w.begin(3);
        w.arg("SET");
        w.arg(key);
        w.arg(value);
        bytes = value.size();
        break;
      }
      case 1:
      case 2:
        while (bytes < size) {
          parts.push_back(pool.slice(rng, type == 1 ? rng.between(16, 128) : rng.between(16, 64)));
          bytes += parts.back().size();
        }
        w.begin(2 + parts.size());
        w.arg(type == 1 ? "RPUSH" : "SADD");
        w.arg(key);
        for (const auto p : parts)
          w.arg(p);
        break;
      case 3:
        while (bytes < size) {
          parts.push_back(pool.slice(rng, rng.between(16, 64)));
          bytes += parts.back().size() + 8;
        }
        w.begin(2 + 2 * parts.size());
        w.arg("ZADD");
        w.arg(key);
        for (const auto p : parts) {
          w.arg_double(static_cast<double>(rng.below(1000000)) / 100.0);
          w.arg(p);
        }
        break;
      case 4:
        while (bytes < size) {
          parts.push_back(pool.slice(rng, rng.between(16, 128)));
          bytes += parts.back().size() + 10;
        }
        w.begin(2 + 2 * parts.size());
        w.arg("HSET");
        w.arg(key);
        for (std::size_t i = 0; i < parts.size(); ++i) {
          make_key(field, "field:", i, 4);
          w.arg(field);
          w.arg(parts[i]);
        }
        break;
      default:
        for (std::uint64_t id = 1; bytes < size; ++id) {
          const auto a = pool.slice(rng, rng.between(16, 128));
          const auto b = pool.slice(rng, rng.between(16, 128));
          w.begin(7);
          w.arg("XADD");
          w.arg(key);
          field = std::to_string(id) + "-1";
          w.arg(field);
          w.arg("name");
          w.arg(a);
          w.arg("body");
          w.arg(b);
          bytes += a.size() + b.size() + 8;
        }
        break;
    }
    if (rng.unit() < ttl_fraction) {
      w.begin(3);
      w.arg("PEXPIRE");
      w.arg(key);
      w.arg_number(static_cast<std::int64_t>(rng.between(kTtlMinMs, kTtlMaxMs)));
      ++stats.with_ttl;
    }
    ++stats.keys;
    stats.raw_bytes += bytes;
    return next < count;
  });
  stream_to(target, source);
  stats.commands = source.total_commands();
  stats.elapsed_s = monotonic_seconds() - start;
  return stats;
}

SeedStats seed_bigkeys(const Target& target, double scale) {
  if (scale <= 0 || scale > 10) throw std::invalid_argument("scale must be in (0, 10]");
  const double start = monotonic_seconds();
  const TextPool pool(kBigSeed);
  Rng rng(kBigSeed);
  const auto scaled = [scale](double n) { return static_cast<std::uint64_t>(n * scale); };
  const std::uint64_t hash_fields = scaled(1e6);  // 15-byte field + 285-byte value = 300 MB
  const std::uint64_t zset_members = scaled(5e6);
  const std::uint64_t list_items = scaled(2e6);
  const std::uint64_t string_bytes = scaled(200.0 * 1024 * 1024);
  SeedStats stats;
  int phase = 0;
  std::uint64_t done = 0;
  std::string item;
  const auto advance = [&] {
    ++phase;
    done = 0;
    return true;
  };
  GeneratedSource source([&](CommandWriter& w) {
    switch (phase) {
      case 0: {
        if (done == hash_fields) return advance();
        const std::uint64_t n = std::min(kBigBatch, hash_fields - done);
        w.begin(2 + 2 * n);
        w.arg("HSET");
        w.arg("big:hash");
        for (std::uint64_t i = 0; i < n; ++i) {
          make_key(item, "field:", done + i, 9);
          w.arg(item);
          w.arg(pool.slice(rng, 285));
        }
        stats.raw_bytes += n * 300;
        done += n;
        return true;
      }
      case 1: {
        if (done == zset_members) return advance();
        const std::uint64_t n = std::min(kBigBatch, zset_members - done);
        w.begin(2 + 2 * n);
        w.arg("ZADD");
        w.arg("big:zset");
        for (std::uint64_t i = 0; i < n; ++i) {
          make_key(item, "member:", done + i, 9);
          w.arg_double(static_cast<double>(rng.below(100000000)) / 1000.0);
          w.arg(item);
        }
        stats.raw_bytes += n * (item.size() + 8);
        done += n;
        return true;
      }
      case 2: {
        if (done == list_items) return advance();
        const std::uint64_t n = std::min(kBigBatch, list_items - done);
        w.begin(2 + n);
        w.arg("RPUSH");
        w.arg("big:list");
        for (std::uint64_t i = 0; i < n; ++i)
          w.arg(pool.slice(rng, 64));
        stats.raw_bytes += n * 64;
        done += n;
        return true;
      }
      default: {
        if (done == string_bytes) return false;
        const std::uint64_t n = std::min<std::uint64_t>(TextPool::kMaxSlice, string_bytes - done);
        w.begin(3);
        w.arg(done == 0 ? "SET" : "APPEND");
        w.arg("big:string");
        w.arg(pool.slice(rng, n));
        stats.raw_bytes += n;
        done += n;
        return done < string_bytes;
      }
    }
  });
  stream_to(target, source);
  stats.keys = 4;
  stats.commands = source.total_commands();
  stats.elapsed_s = monotonic_seconds() - start;
  return stats;
}

}  // namespace rmbench
