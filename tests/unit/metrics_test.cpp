#include "report/metrics.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>

using namespace rmig;

namespace {

// The value of the line `series value` in a text exposition (-1 when absent).
double value_of(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

double keys(const std::string& text, const std::string& outcome) {
  return value_of(text, "redis_migrate_keys_total{outcome=\"" + outcome + "\"}");
}

}  // namespace

TEST_CASE("metrics without a port do nothing") {
  report::Metrics m;
  CHECK(m.start(0, "copy", "redis://a:6379/0", "redis://b:6379/0"));
  CHECK(!m.enabled());
  CHECK(m.port() == 0);
  report::MetricsSample s;
  s.totals.copied = 5;
  m.begin_run();
  m.update(s);
  CHECK(m.text().empty());
}

TEST_CASE("the counters add every run of the process and never go back") {
  report::Metrics m;
  m.start_unexposed("copy", "redis://:***@src:6379/0", "redis://dst:6379/0");
  REQUIRE(m.enabled());
  const std::string first = m.text();
  CHECK(
      value_of(
          first,
          "redis_migrate_info{command=\"copy\",destination=\"redis://dst:6379/0\",source=\"redis://:***@src:"
          "6379/0\",version=\"" RM_VERSION "\"}") == 1);
  // Every outcome series exists from the start, at 0, so rate() works from the first scrape.
  CHECK(keys(first, "copied") == 0);
  CHECK(keys(first, "recopied") == 0);
  CHECK(keys(first, "bytes") == -1);  // bytes have their own metric
  CHECK(value_of(first, "redis_migrate_bytes_total") == 0);

  m.begin_run();
  report::MetricsSample s;
  s.totals.scanned = 10;
  s.totals.copied = 7;
  s.totals.failed = 2;
  s.totals.cleanup_failed = 1;
  s.totals.bytes = 700;
  s.totals.redirects_moved = 3;
  s.in_flight = 3;
  s.rate_limited = true;
  m.update(s);
  std::string t = m.text();
  CHECK(keys(t, "scanned") == 10);
  CHECK(keys(t, "copied") == 7);
  CHECK(keys(t, "failed") == 2);
  CHECK(value_of(t, "redis_migrate_errors_total") == 3);
  CHECK(value_of(t, "redis_migrate_bytes_total") == 700);
  CHECK(value_of(t, "redis_migrate_redirects_total{kind=\"moved\"}") == 3);
  CHECK(value_of(t, "redis_migrate_keys_in_flight") == 3);
  CHECK(value_of(t, "redis_migrate_paused{reason=\"rate_limit\"}") == 1);
  CHECK(value_of(t, "redis_migrate_paused{reason=\"destination\"}") == 0);

  // The same run, later: a key given back (scanned steps back) does not make the counter go back, and is
  // not counted twice when scanned again.
  s.totals.scanned = 9;
  s.totals.copied = 8;
  s.in_flight = 0;
  m.update(s);
  t = m.text();
  CHECK(keys(t, "scanned") == 10);
  CHECK(keys(t, "copied") == 8);
  CHECK(value_of(t, "redis_migrate_keys_in_flight") == 0);
  s.totals.scanned = 11;
  m.update(s);
  CHECK(keys(m.text(), "scanned") == 11);
  // The same values again change nothing.
  m.update(s);
  CHECK(keys(m.text(), "copied") == 8);
  CHECK(value_of(m.text(), "redis_migrate_errors_total") == 3);

  // A second run (a verify after the copy): its totals start from zero and add to the first run's.
  m.begin_run();
  report::MetricsSample v;
  v.totals.checked = 4;
  v.totals.equal = 4;
  v.totals.failed = 1;
  m.update(v);
  t = m.text();
  CHECK(keys(t, "checked") == 4);
  CHECK(keys(t, "copied") == 8);
  CHECK(keys(t, "failed") == 3);
  CHECK(value_of(t, "redis_migrate_errors_total") == 4);
  // No live metrics without a live sample.
  CHECK(t.find("redis_migrate_pending_keys") == std::string::npos);
  CHECK(t.find("redis_migrate_phase") == std::string::npos);
}

TEST_CASE("live runs add pending keys, lag, changes, resyncs by cause and the phase") {
  report::Metrics m;
  m.start_unexposed("copy", "redis://src:6379/0", "redis://dst:6379/0");
  m.begin_run();
  report::MetricsSample s;
  s.live = true;
  s.phase = "bulk";
  s.pending = 12;
  s.lag_ms = 1500;
  s.changes = 40;
  m.update(s);
  std::string t = m.text();
  CHECK(value_of(t, "redis_migrate_pending_keys") == 12);
  CHECK(value_of(t, "redis_migrate_lag_seconds") == doctest::Approx(1.5));
  CHECK(value_of(t, "redis_migrate_changes_total") == 40);
  CHECK(value_of(t, "redis_migrate_phase{phase=\"bulk\"}") == 1);

  s.phase = "live";
  s.pending = 0;
  s.lag_ms = 0;
  s.changes = 55;
  s.resync_causes = {"subscriber disconnected", "pending set overflow", "subscriber disconnected"};
  m.update(s);
  t = m.text();
  CHECK(value_of(t, "redis_migrate_pending_keys") == 0);
  CHECK(value_of(t, "redis_migrate_lag_seconds") == 0);
  CHECK(value_of(t, "redis_migrate_changes_total") == 55);
  CHECK(value_of(t, "redis_migrate_phase{phase=\"bulk\"}") == 0);
  CHECK(value_of(t, "redis_migrate_phase{phase=\"live\"}") == 1);
  CHECK(value_of(t, "redis_migrate_resyncs_total{cause=\"subscriber disconnected\"}") == 2);
  CHECK(value_of(t, "redis_migrate_resyncs_total{cause=\"pending set overflow\"}") == 1);

  // One more resync of a cause already seen adds one.
  s.resync_causes.push_back("pending set overflow");
  m.update(s);
  CHECK(value_of(m.text(), "redis_migrate_resyncs_total{cause=\"pending set overflow\"}") == 2);
  CHECK(value_of(m.text(), "redis_migrate_resyncs_total{cause=\"subscriber disconnected\"}") == 2);
}

TEST_CASE("key outcomes are every report counter but bytes and redirects") {
  std::size_t outcomes = 0;
  for (std::size_t i = 0; i < report::kCounterFieldCount; ++i) {
    if (report::Metrics::is_key_outcome(report::kCounterFields[i].name)) ++outcomes;
  }
  CHECK(outcomes == report::kCounterFieldCount - 4);
  CHECK(report::Metrics::is_key_outcome("copied"));
  CHECK(report::Metrics::is_key_outcome("recopied"));
  CHECK(!report::Metrics::is_key_outcome("bytes"));
  CHECK(!report::Metrics::is_key_outcome("redirects_ask"));
}
