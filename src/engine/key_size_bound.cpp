#include "engine/key_size_bound.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <string>

#include "resp/command.hpp"
#include "resp/info.hpp"
#include "resp/reply.hpp"

namespace rmig::engine {

namespace {

constexpr uint64_t kObjectOverhead = 1024;

// "4096", "4K", "1M", "2G", "1T" (binary multiples, as INFO keysizes writes its bucket bounds); false when
// not a bucket label.
bool parse_bucket(std::string_view text, uint64_t& out) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return false;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  int shift = 0;
  if (unit == "K") {
    shift = 10;
  } else if (unit == "M") {
    shift = 20;
  } else if (unit == "G") {
    shift = 30;
  } else if (unit == "T") {
    shift = 40;
  } else if (!unit.empty()) {
    return false;
  }
  if (shift > 0 && n > (UINT64_MAX >> (shift + 1))) return false;
  out = n << shift;
  return true;
}

// Adds the counts of "bucket=count,bucket=count"; false when malformed. `largest` gets the largest bucket
// with a non-zero count.
bool sum_histogram(std::string_view text, uint64_t& keys, uint64_t& largest) {
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return false;
    uint64_t bucket = 0;
    uint64_t count = 0;
    if (!parse_bucket(item.substr(0, eq), bucket)) return false;
    const std::string_view c = item.substr(eq + 1);
    const auto [end, ec] = std::from_chars(c.data(), c.data() + c.size(), count);
    if (ec != std::errc() || end != c.data() + c.size()) return false;
    keys += count;
    if (count > 0) largest = std::max(largest, bucket);
  }
  return true;
}

}  // namespace

uint64_t keysizes_string_bound(std::string_view keysizes, std::string_view keyspace) {
  const auto sizes = resp::parse_info(keysizes);
  const auto space = resp::parse_info(keyspace);
  std::map<std::string, uint64_t, std::less<>> strings;  // db name ("db0") -> string keys in the histogram
  uint64_t largest = 0;
  bool any = false;
  for (const auto& [field, value] : sizes) {
    const std::size_t sep = field.find("_distrib_");
    if (sep == std::string::npos || field.compare(0, 2, "db") != 0) continue;
    any = true;
    uint64_t keys = 0;
    uint64_t top = 0;
    if (!sum_histogram(value, keys, top)) return 0;
    if (field.compare(sep, std::string::npos, "_distrib_strings_sizes") != 0) {
      if (keys > 0) return 0;  // a collection: its element count does not bound its bytes
      continue;
    }
    strings[field.substr(0, sep)] += keys;
    largest = std::max(largest, top);
  }
  if (!any) return 0;  // no keysizes section (Redis < 8, Valkey), or no key at all
  // Every key of every database must be a string the histogram counted (streams and module types are not
  // in it).
  std::size_t dbs = 0;
  for (const auto& [field, value] : space) {
    if (field.compare(0, 2, "db") != 0) continue;
    ++dbs;
    const std::size_t at = value.find("keys=");
    if (at == std::string::npos) return 0;
    const uint64_t keys = std::strtoull(value.c_str() + at + 5, nullptr, 10);
    const auto s = strings.find(field);
    if (s == strings.end() || s->second != keys) return 0;
  }
  if (dbs == 0 || dbs != strings.size()) return 0;
  // A bucket b holds lengths from b to 2b - 1; kObjectOverhead more covers what MEMORY USAGE (the size the
  // threshold is compared with) adds to a string's length (the object and a dictionary entry).
  return (largest == 0 ? 1 : largest * 2 - 1) + kObjectOverhead;
}

uint64_t key_size_bound(net::Loop& loop, resp::Connection& c) {
  const auto section = [&](const char* name) -> std::string {
    auto r = resp::call_sync(loop, c, {"INFO", name});
    if (!r || !resp::is_string(r->get())) return {};
    return std::string(resp::text(r->get()));
  };
  const std::string memory = section("memory");
  const uint64_t dataset =
      std::strtoull(resp::parse_info(memory)["used_memory_dataset"].c_str(), nullptr, 10);
  const std::string keysizes = section("keysizes");
  const uint64_t strings = keysizes.empty() ? 0 : keysizes_string_bound(keysizes, section("keyspace"));
  if (strings > 0) {
    spdlog::debug("{}: INFO keysizes: every key is a string of at most {} bytes", c.label(), strings);
  }
  if (dataset == 0) return strings;
  return strings == 0 ? dataset : std::min(dataset, strings);
}

}  // namespace rmig::engine
