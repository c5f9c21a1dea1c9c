#include <doctest/doctest.h>

#include <string>

#include "report/counters.hpp"
#include "report/format.hpp"
#include "report/run_report.hpp"
#include "select/seen_filter.hpp"

using namespace rmig;

TEST_CASE("the seen-filter never forgets a key and rarely imagines one") {
  // Every key is added once, as in a run: a "seen" answer on a first insertion is a false positive.
  select::SeenFilter f(1'000'000, 16u << 20);
  int false_positives = 0;
  for (int i = 0; i < 1'000'000; ++i)
    false_positives += f.test_and_add("key:" + std::to_string(i)) ? 1 : 0;
  CHECK(false_positives <= 3);  // about 1e-6 expected at 48 bits per key
  for (int i = 0; i < 1'000'000; i += 997)
    CHECK(f.test_and_add("key:" + std::to_string(i)));
}

TEST_CASE("error groups count by message and keep the first example key") {
  report::ErrorGroups g;
  g.add("RESTORE: ERR a", "k1");
  g.add("RESTORE: ERR b", "k2");
  g.add("RESTORE: ERR a", "k3");
  auto s = g.sorted();
  REQUIRE(s.size() == 2);
  CHECK(s[0].message == "RESTORE: ERR a");
  CHECK(s[0].count == 2);
  CHECK(s[0].example_key == "k1");
  for (int i = 0; i < 200; ++i)
    g.add("distinct " + std::to_string(i), "k");
  CHECK(g.sorted().size() <= report::ErrorGroups::kMaxGroups + 1);
  CHECK(g.total() == 203);
}

TEST_CASE("exit codes follow the outcome") {
  report::Counters c;
  CHECK(report::copy_exit_code(c, std::nullopt, 0) == ExitCode::kOk);
  c.skipped = 3;
  c.expired = 1;
  CHECK(report::copy_exit_code(c, std::nullopt, 0) == ExitCode::kOk);
  c.failed = 1;
  CHECK(report::copy_exit_code(c, std::nullopt, 0) == ExitCode::kKeysFailed);
  CHECK(report::copy_exit_code(c, std::nullopt, 2) == ExitCode::kInterrupted);
  CHECK(static_cast<int>(report::copy_exit_code(c, std::nullopt, 15)) == 143);
  CHECK(report::copy_exit_code(c, Error{ExitCode::kDestinationRefused, "oom"}, 0) ==
        ExitCode::kDestinationRefused);
}

TEST_CASE("the JSON report holds the documented fields, keys escaped") {
  report::RunReport r;
  r.totals.scanned = 10;
  r.totals.copied = 7;
  r.totals.skipped = 1;
  r.totals.expired = 1;
  r.totals.vanished = 0;
  r.totals.failed = 1;
  r.totals.bytes = 1234;
  r.errors.add("RESTORE: ERR bad", std::string("bin\0key\xff", 8));
  r.exit_code = ExitCode::kKeysFailed;
  r.duration_s = 1.5;
  auto j = report::to_json(r);
  for (const char* k :
       {"scanned", "copied", "skipped", "expired", "vanished", "failed", "bytes", "exit_code"}) {
    CAPTURE(k);
    CHECK(j.at(k).is_number_integer());
  }
  CHECK(j["copied"] == 7);
  CHECK(j["exit_code"] == 1);
  CHECK(j["duration_s"].is_number());
  REQUIRE(j["errors"].size() == 1);
  CHECK(j["errors"][0]["message"] == "RESTORE: ERR bad");
  CHECK(j["errors"][0]["count"] == 1);
  CHECK(j["errors"][0]["example_key"] == "bin\\x00key\\xff");
}

TEST_CASE("numbers for people") {
  CHECK(report::thousands(0) == "0");
  CHECK(report::thousands(999) == "999");
  CHECK(report::thousands(1000) == "1,000");
  CHECK(report::thousands(1234567) == "1,234,567");
  CHECK(report::thousands(123456) == "123,456");
  CHECK(report::human_bytes(512) == "512 B");
  CHECK(report::human_bytes(12'300'000) == "12.3 MB");
  CHECK(report::human_duration(80) == "1m20s");
  CHECK(report::human_duration(3.25) == "3.2s");
}
