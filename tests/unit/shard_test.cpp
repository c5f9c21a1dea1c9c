// --shard I/N: the split of the hash slots, the parsing of the option and its environment variables, and the
// selector's filter by slot.

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "app/cli.hpp"
#include "cluster/slot.hpp"
#include "select/selector.hpp"

using namespace rmig;

namespace {

// Sets the shard variables for one check and clears them afterwards.
struct ShardEnv {
  ShardEnv(const char* index, const char* count) {
    unsetenv("JOB_COMPLETION_INDEX");
    unsetenv("SHARD_COUNT");
    if (index != nullptr) setenv("JOB_COMPLETION_INDEX", index, 1);
    if (count != nullptr) setenv("SHARD_COUNT", count, 1);
  }
  ~ShardEnv() {
    unsetenv("JOB_COMPLETION_INDEX");
    unsetenv("SHARD_COUNT");
  }
};

}  // namespace

TEST_SUITE("shard") {
  TEST_CASE("every slot belongs to exactly one shard, in contiguous even ranges") {
    for (uint32_t n : {1u, 2u, 3u, 7u, 10u, 30u, 1000u, 16384u}) {
      CAPTURE(n);
      uint32_t next = 0;
      uint32_t smallest = 16384, largest = 0;
      for (uint32_t i = 0; i < n; ++i) {
        const select::Shard s{i, n};
        CHECK(s.first_slot() == next);
        next = s.end_slot();
        smallest = std::min(smallest, s.end_slot() - s.first_slot());
        largest = std::max(largest, s.end_slot() - s.first_slot());
      }
      CHECK(next == 16384);
      CHECK(largest - smallest <= 1);
    }
    const select::Shard s{1, 3};
    CHECK(s.first_slot() == 5461);
    CHECK(s.end_slot() == 10922);
    CHECK(s.slots_text() == "slots 5461-10921 (5461 slots)");
    CHECK(!select::Shard{}.active());
    CHECK(select::Shard{}.owns(16383));
  }

  TEST_CASE("parse_shard: I/N with 0 <= I < N <= 16384, everything else named") {
    auto ok = app::parse_shard("2/3", "--shard");
    REQUIRE(ok);
    CHECK(ok->index == 2);
    CHECK(ok->count == 3);
    CHECK(app::parse_shard("16383/16384", "--shard"));
    CHECK(app::parse_shard("0/1", "--shard"));
    for (const char* bad : {"3/3", "0/0", "0/16385", "1", "a/3", "1/b", "-1/3", "1/-3", " 1/3", "1/3 ", "/3",
                            "1/", "1/3/5", "99999999999999999999/3"}) {
      CAPTURE(bad);
      auto r = app::parse_shard(bad, "--shard");
      REQUIRE(!r);
      CHECK(r.error().code == ExitCode::kUsage);
      CHECK(r.error().message.find("--shard '" + std::string(bad) + "'") == 0);
    }
  }

  TEST_CASE("resolve_shard: --shard, or JOB_COMPLETION_INDEX with SHARD_COUNT, agreeing when both") {
    {
      ShardEnv env(nullptr, nullptr);
      auto r = app::resolve_shard("", "--shard");
      REQUIRE(r);
      CHECK(!r->active());
    }
    {
      ShardEnv env("2", "4");
      auto r = app::resolve_shard("", "--shard");
      REQUIRE(r);
      CHECK(r->text() == "2/4");
      CHECK(app::resolve_shard("2/4", "--shard"));
      CHECK(!app::resolve_shard("1/4", "--shard"));
      CHECK(!app::resolve_shard("2/5", "--shard"));
    }
    {
      ShardEnv env("1", nullptr);
      auto r = app::resolve_shard("", "--shard");
      REQUIRE(!r);
      CHECK(r.error().message.find("SHARD_COUNT") != std::string::npos);
      CHECK(app::resolve_shard("1/3", "--shard"));  // the index agrees
      CHECK(!app::resolve_shard("0/3", "--shard"));
    }
    {
      ShardEnv env(nullptr, "3");
      CHECK(!app::resolve_shard("", "--shard"));
      CHECK(app::resolve_shard("0/3", "--shard"));
    }
    {
      ShardEnv env("3", "3");
      CHECK(!app::resolve_shard("", "--shard"));
    }
  }

  TEST_CASE("the selector keeps only keys of the shard's slots, hash tags included") {
    select::Selection sel;
    sel.shard = select::Shard{0, 2};
    select::Selector s(sel, false, 100, 1 << 20);
    select::Naming naming;
    int kept = 0;
    for (int i = 0; i < 1000; ++i) {
      const std::string key = "k:" + std::to_string(i);
      const bool mine = cluster::key_hash_slot(key) < 8192;
      CHECK(s.by_name(key, naming) == mine);
      kept += mine ? 1 : 0;
    }
    CHECK(kept > 400);
    CHECK(kept < 600);
    // Keys sharing a hash tag land in the same shard.
    const bool a = s.by_name("{user1000}.following", naming);
    CHECK(s.by_name("{user1000}.followers", naming) == a);
  }

  TEST_CASE("--shard anywhere around the URLs and the subcommand, and as --shard=I/N") {
    ShardEnv env(nullptr, nullptr);
    unsetenv("SHARD");
    const std::string src = "redis://127.0.0.1:7000/0", dst = "redis://127.0.0.1:7001/0";
    const std::vector<std::vector<std::string>> lines = {{"--shard", "1/4", src, dst},
                                                         {src, "--shard", "1/4", dst},
                                                         {src, dst, "--shard", "1/4"},
                                                         {src, dst, "--shard=1/4"},
                                                         {"verify", src, dst, "--shard", "1/4"},
                                                         {"--shard", "1/4", "verify", src, dst},
                                                         {src, "--shard", "1/4", "cleanup", dst},
                                                         {"plan", src, "--shard", "1/4", dst}};
    for (const auto& line : lines) {
      std::vector<std::string> args = {"redis-migrate"};
      args.insert(args.end(), line.begin(), line.end());
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      std::string joined;
      for (const auto& a : line)
        joined += a + " ";
      CAPTURE(joined);
      auto parsed = app::parse_command_line(static_cast<int>(argv.size()), argv.data());
      REQUIRE(std::holds_alternative<app::Config>(parsed));
      const auto& cfg = std::get<app::Config>(parsed);
      CHECK(cfg.copy.options.selection.shard.text() == "1/4");
      CHECK(cfg.copy.source_url == src);
      CHECK(cfg.copy.destination_url == dst);
    }
  }
}
