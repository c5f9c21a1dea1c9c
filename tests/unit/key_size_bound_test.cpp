#include "engine/key_size_bound.hpp"

#include <doctest/doctest.h>

using rmig::engine::keysizes_string_bound;

namespace {
constexpr const char* kSpace2 = "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0,subexpiry=0\r\n";
}  // namespace

TEST_CASE("keysizes: a node of strings only is bounded by twice its largest bucket, plus the object") {
  const char* sizes = "# Keysizes\r\ndb0_distrib_strings_sizes:4=1,4K=1\r\n";
  CHECK(keysizes_string_bound(sizes, kSpace2) == 8191 + 1024);
  CHECK(keysizes_string_bound("# Keysizes\r\ndb0_distrib_strings_sizes:1M=2\r\n", kSpace2) ==
        2 * 1048576 - 1 + 1024);
  CHECK(keysizes_string_bound("# Keysizes\r\ndb0_distrib_strings_sizes:0=2\r\n", kSpace2) == 1 + 1024);
}

TEST_CASE("keysizes: a collection, an uncounted key or a missing section give no bound") {
  // A hash: its element count says nothing of its bytes.
  CHECK(keysizes_string_bound("db0_distrib_strings_sizes:4=1\r\ndb0_distrib_hashes_items:1=1\r\n", kSpace2) ==
        0);
  // Counts that do not add up to keys= (a stream or a module key is not in the histograms).
  CHECK(keysizes_string_bound("db0_distrib_strings_sizes:4=1\r\n", kSpace2) == 0);
  // Another database with keys the histogram does not cover.
  CHECK(keysizes_string_bound("db0_distrib_strings_sizes:4=2\r\n",
                              "db0:keys=2,expires=0\r\ndb1:keys=5,expires=0\r\n") == 0);
  // Redis < 8, Valkey: INFO keysizes is empty.
  CHECK(keysizes_string_bound("", kSpace2) == 0);
  // No key at all: nothing to prove.
  CHECK(keysizes_string_bound("# Keysizes\r\n", "# Keyspace\r\n") == 0);
  // Malformed.
  CHECK(keysizes_string_bound("db0_distrib_strings_sizes:4x=2\r\n", kSpace2) == 0);
  CHECK(keysizes_string_bound("db0_distrib_strings_sizes:4=two\r\n", kSpace2) == 0);
}

TEST_CASE("keysizes: an empty collection histogram does not void the bound; two databases add up") {
  CHECK(keysizes_string_bound("db0_distrib_strings_sizes:64=2\r\ndb0_distrib_lists_items:\r\n", kSpace2) ==
        127 + 1024);
  CHECK(keysizes_string_bound("db0_distrib_strings_sizes:64=2\r\ndb3_distrib_strings_sizes:2K=1\r\n",
                              "db0:keys=2,expires=0\r\ndb3:keys=1,expires=0\r\n") == 4095 + 1024);
}
