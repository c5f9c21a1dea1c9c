// The conflict policy a run was given is the one its JSON report and its run record name, for every policy
// (merge and fail were once reported as skip), whether or not a conflict happened.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "helpers.hpp"
#include "support/redis_server.hpp"

using namespace rmig::test;

TEST_SUITE("cli") {
  TEST_CASE("--on-conflict merge and fail are named merge and fail in --report-json and the run record") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    for (const char* policy : {"merge", "fail", "replace", "skip"}) {
      CAPTURE(policy);
      dst.checked({"FLUSHALL"});
      src.checked({"FLUSHALL"});
      // One hash on both sides (merge folds it, fail stops on it) and one key only on the source.
      src.checked({"HSET", "h", "from-source", "1"});
      src.checked({"SET", "only-source", "v"});
      dst.checked({"HSET", "h", "from-destination", "2"});

      auto run = run_copy({src_server.url(), dst_server.url(), "--on-conflict", policy});
      INFO(run.result.describe());
      const std::string name = policy;
      if (name == "fail") {
        CHECK(run.exit_code() != 0);
      } else {
        CHECK(run.exit_code() == 0);
      }
      CHECK(run.report.value("conflict_policy", std::string()) == name);

      // The run record keeps the same name, and `status` shows it.
      auto status = run_copy({"status", dst_server.url()});
      INFO(status.result.describe());
      REQUIRE(status.exit_code() == 0);
      REQUIRE(status.report["runs"].is_array());
      REQUIRE(!status.report["runs"].empty());
      bool found = false;
      for (const auto& r : status.report["runs"]) {
        if (r.value("id", std::string()) == run.report["run"].value("id", std::string())) {
          found = true;
          CHECK(r["fingerprint"].value("conflict", std::string()) == name);
        }
      }
      CHECK(found);

      // What each policy does with the hash, so the name is not just echoed.
      const auto fields = dst.command({"HGETALL", "h"});
      if (name == "merge") {
        CHECK(fields.elements.size() == 4);
      } else if (name == "replace") {
        CHECK(dst.command({"HGET", "h", "from-source"}).str == "1");
        CHECK(dst.command({"HEXISTS", "h", "from-destination"}).integer == 0);
      } else {
        CHECK(dst.command({"HGET", "h", "from-destination"}).str == "2");
        CHECK(dst.command({"HEXISTS", "h", "from-source"}).integer == 0);
      }
      // Invariant: the source keeps everything.
      CHECK(src.command({"HGET", "h", "from-source"}).str == "1");
      CHECK(src.command({"GET", "only-source"}).str == "v");
    }
  }
}
