#include "support/seed.hpp"

#include <array>
#include <cstdio>
#include <random>

namespace rmig::test {

namespace {

// Pipelined writes are flushed in batches of about this many commands.
constexpr std::size_t kFlushAt = 5000;

constexpr std::array<const char*, 6> kTypes = {"string", "list", "set", "zset", "hash", "stream"};
// Scores that are easy to get wrong when a value travels as text or as a double.
constexpr std::array<const char*, 8> kSpecialScores = {"1.5",   "-inf", "+inf", "0.1",
                                                       "1e300", "-2.5", "0",    "3.141592653589793"};

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  std::string bytes(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng_() & 0xff);
    return s;
  }
  std::uint64_t next() { return rng_(); }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
  double unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

 private:
  std::mt19937_64 rng_;
};

class Batch {
 public:
  explicit Batch(KeyWriter& w) : writer_(w) {}
  void add(Command c) {
    commands_.push_back(std::move(c));
    if (commands_.size() >= kFlushAt) flush();
  }
  void flush() {
    if (commands_.empty()) return;
    writer_.pipeline_checked(commands_);
    commands_.clear();
  }

 private:
  KeyWriter& writer_;
  std::vector<Command> commands_;
};

std::string stream_id(std::size_t ms, std::size_t seq) {
  return std::to_string(ms) + "-" + std::to_string(seq);
}

}  // namespace

std::vector<std::string> seed_mixed(KeyWriter& writer, const SeedOptions& o) {
  Generator gen(o.seed);
  Batch batch(writer);
  std::vector<std::string> keys;
  keys.reserve(o.count);
  for (std::size_t i = 0; i < o.count; ++i) {
    const std::size_t type = i % kTypes.size();
    const std::size_t nth = i / kTypes.size();  // how many keys of this type came before
    std::string key = o.prefix + kTypes[type] + ":" + std::to_string(i);
    bool large = o.large_every != 0 && nth % o.large_every == o.large_every - 1;
    // Streams get at least three entries so that every one has pending entries after the read below.
    std::size_t n = large ? o.large_elements : (type == 5 ? 3 : 1) + gen.below(8);
    auto value = [&] { return gen.bytes(o.value_size); };
    switch (type) {
      case 0:  // string; every third one integer-encoded
        batch.add({"SET", key, nth % 3 == 0 ? std::to_string(gen.next() % 1000000) : value()});
        break;
      case 1: {
        Command c{"RPUSH", key};
        for (std::size_t j = 0; j < n; ++j)
          c.push_back(value());
        batch.add(std::move(c));
        break;
      }
      case 2: {
        // Some sets are integer-only (intset encoding).
        bool integers = nth % 2 == 0;
        Command c{"SADD", key};
        for (std::size_t j = 0; j < n; ++j)
          c.push_back(integers ? std::to_string(gen.next() % 100000) : value());
        batch.add(std::move(c));
        break;
      }
      case 3: {
        Command c{"ZADD", key};
        for (std::size_t j = 0; j < n; ++j) {
          if (j < kSpecialScores.size() && gen.below(2) == 0) {
            c.emplace_back(kSpecialScores[j]);
          } else {
            char score[40];
            std::snprintf(score, sizeof score, "%.17g",
                          (static_cast<double>(gen.next() % 2000001) - 1e6) / 7.0);
            c.emplace_back(score);
          }
          c.push_back(value());
        }
        batch.add(std::move(c));
        break;
      }
      case 4: {
        Command c{"HSET", key};
        for (std::size_t j = 0; j < n; ++j) {
          c.push_back(value());
          c.push_back(value());
        }
        batch.add(std::move(c));
        break;
      }
      case 5: {
        // Explicit, increasing IDs keep the data identical from run to run.
        for (std::size_t j = 0; j < n; ++j) {
          Command c{"XADD", key, stream_id(1000 + j, j % 3)};
          std::size_t fields = 1 + gen.below(3);
          for (std::size_t f = 0; f < fields; ++f) {
            c.push_back("f" + std::to_string(f));
            c.push_back(value());
          }
          batch.add(std::move(c));
        }
        batch.add({"XGROUP", "CREATE", key, "readers", "0"});
        // alice reads up to three entries and acknowledges one: the rest stay pending.
        batch.add({"XREADGROUP", "GROUP", "readers", "alice", "COUNT", "3", "STREAMS", key, ">"});
        batch.add({"XACK", key, "readers", stream_id(1000, 0)});
        if (nth % 2 == 0) {
          batch.add({"XGROUP", "CREATE", key, "latecomers", "$"});
          batch.add({"XGROUP", "CREATECONSUMER", key, "latecomers", "bob"});
        }
        break;
      }
      default: break;
    }
    if (gen.unit() < o.ttl_fraction) {
      auto span = static_cast<std::uint64_t>((o.max_ttl - o.min_ttl).count());
      auto ttl = o.min_ttl.count() + static_cast<long long>(span == 0 ? 0 : gen.next() % span);
      batch.add({"PEXPIRE", key, std::to_string(ttl)});
    }
    keys.push_back(std::move(key));
  }
  batch.flush();
  return keys;
}

std::string edge_short_ttl_key(const EdgeOptions& options) { return options.prefix + "short-ttl"; }

std::vector<std::string> seed_edge_keys(KeyWriter& writer, const EdgeOptions& o) {
  Batch batch(writer);
  std::vector<std::string> keys;
  auto key = [&](std::string name) {
    keys.push_back(o.prefix + std::move(name));
    return keys.back();
  };
  using namespace std::string_literals;

  batch.add({"SET", key("with space"), "value with space"});
  batch.add({"SET", key("crlf\r\nkey"), "line1\r\nline2"});
  batch.add({"SET", key("nul\0key"s), "nul\0value"s});
  batch.add({"SET", key("\xff\xfe-invalid-utf8"), "\xff\xfe\xfd"});
  batch.add({"SET", key("utf8-\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87-\xf0\x9f\x94\x91"), "\xf0\x9f\x94\x91"});
  batch.add({"SET", key("glob*?[chars]\\"), "glob"});
  batch.add({"SET", key("{tag}hashtag-a"), "a"});
  batch.add({"SET", key("{tag}hashtag-b"), "b"});
  batch.add({"SET", key("empty-value"), ""});
  batch.add({"SET", key("int-value"), "12345"});
  batch.add({"SET", key("negative-int"), "-42"});
  batch.add({"SET", key("long-name-" + std::string(1000, 'n')), "long"});
  {
    std::string big(256 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
      big[i] = static_cast<char>((i * 131 + 7) & 0xff);
    batch.add({"SET", key("big-string"), std::move(big)});
  }
  {
    auto ten_years = std::chrono::system_clock::now() + std::chrono::hours(24 * 3650);
    auto at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ten_years.time_since_epoch()).count();
    std::string k = key("far-ttl");
    batch.add({"SET", k, "far"});
    batch.add({"PEXPIREAT", k, std::to_string(at_ms)});
  }
  batch.add({"RPUSH", key("list-with-empty"), "", "x", ""});
  batch.add({"SADD", key("intset"), "1", "2", "3", "-5"});
  batch.add({"ZADD", key("zset-inf"), "-inf", "low", "+inf", "high", "0", "zero"});
  batch.add({"HSET", key("hash-binary"), "\0f"s, "\xff", "f\r\n", ""});
  {
    // An empty stream still has a last-generated-id, and its group survives.
    std::string k = key("stream-empty");
    batch.add({"XADD", k, "5-1", "f", "v"});
    batch.add({"XDEL", k, "5-1"});
    batch.add({"XGROUP", "CREATE", k, "g", "0"});
  }
  {
    std::string k = key("stream-trimmed");
    for (int i = 1; i <= 5; ++i)
      batch.add({"XADD", k, "1-" + std::to_string(i), "n", std::to_string(i)});
    batch.add({"XGROUP", "CREATE", k, "g", "0"});
    batch.add({"XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", k, ">"});
    batch.add({"XTRIM", k, "MAXLEN", "2"});
  }
  if (o.empty_key_name) {
    keys.emplace_back();
    batch.add({"SET", "", "the empty key name"});
  }
  if (o.short_ttl_key) {
    keys.push_back(edge_short_ttl_key(o));
    batch.add({"SET", keys.back(), "soon gone", "PX", "5"});
  }
  batch.flush();
  return keys;
}

}  // namespace rmig::test
