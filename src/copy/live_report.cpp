#include "copy/live_report.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "net/loop.hpp"
#include "report/format.hpp"
#include "state/cutover.hpp"
#include "state/state_store.hpp"

namespace rmig::copy {

nlohmann::json live_json(const engine::LiveStats& s) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : s.resyncs)
    list.push_back({{"node", r.node}, {"cause", r.cause}});
  nlohmann::json j = {{"changes", s.changes},
                      {"recopied", s.recopied},
                      {"deleted", s.deleted},
                      {"unchanged", s.unchanged},
                      {"resyncs", {{"count", s.resyncs.size()}, {"list", std::move(list)}}},
                      {"lag_ms_max", s.lag_ms_max},
                      {"pending_max", s.pending_max}};
  j["cutover"] =
      s.cutover ? nlohmann::json(name_of(engine::kCutoverCauseNames, *s.cutover)) : nlohmann::json();
  j["cutover_ms"] = s.cutover_ms;
  return j;
}

void add_live_report(report::RunReport& rep, const engine::LiveStats& s) { rep.extra["live"] = live_json(s); }

namespace {

// The ids of the cut-over requests the run took (its report's run section).
std::vector<std::string> requests_of(const report::RunReport& rep) {
  std::vector<std::string> ids;
  auto run = rep.extra.find("run");
  if (run == rep.extra.end() || !run->is_object()) return ids;
  auto it = run->find("cutover_requests");
  if (it == run->end() || !it->is_array()) return ids;
  for (const auto& id : *it) {
    if (id.is_string()) ids.push_back(id.get<std::string>());
  }
  return ids;
}

}  // namespace

report::RunReport verify_at_cutover(report::RunReport rep, verify::VerifyCommand verify) {
  const engine::LiveOptions live = verify.run.options.live;
  if (!live.enabled || !live.verify_at_cutover || rep.exit_code != ExitCode::kOk) return rep;
  spdlog::info("--verify-at-cutover: verifying the selection on the destination");
  verify.run.options.live = engine::LiveOptions{};
  verify.run.options.dry_run = false;
  verify.run.options.cleanup = false;
  verify.dry_run = false;
  const report::RunReport v = verify::run_verify(verify);

  const nlohmann::json full = report::to_json(v);
  nlohmann::json j = nlohmann::json::object();
  for (const char* k :
       {"checked", "equal", "missing", "type_differs", "value_differs", "ttl_differs", "field_ttl_differs",
        "vanished", "expired", "failed", "differences", "errors", "exit_code", "duration_s", "stopped"}) {
    if (full.contains(k)) j[k] = full[k];
  }
  rep.extra["verify"] = std::move(j);
  rep.exit_code = v.exit_code;
  rep.duration_s += v.duration_s;
  const report::Counters& c = v.totals;
  rep.notes.push_back(v.exit_code == ExitCode::kOk
                          ? "verify at cut-over: " + report::thousands(c.checked) + " keys checked, all equal"
                          : "verify at cut-over: " + report::thousands(c.differences()) +
                                " difference(s) in " + report::thousands(c.checked) +
                                " keys checked (exit code " + std::to_string(to_int(v.exit_code)) + ")");

  // The run answered its cut-over requests "verifying": now the final exit code.
  const std::vector<std::string> ids = requests_of(rep);
  if (!ids.empty()) {
    net::Loop loop;
    {
      state::StateClient client(loop, verify.run.destination);
      for (const std::string& id : ids)
        state::write_cutover_result(client, verify.run.state.prefix, id,
                                    std::to_string(to_int(rep.exit_code)));
    }
    loop.close();
  }
  return rep;
}

}  // namespace rmig::copy
