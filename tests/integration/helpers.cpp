#include "helpers.hpp"

#include <sstream>
#include <thread>

namespace rmig::test {

ToolRun run_copy(std::vector<std::string> args, const EnvOverrides& env, std::chrono::milliseconds timeout) {
  TempDir dir("report");
  const std::string path = dir.file("report.json");
  args.push_back("--report-json");
  args.push_back(path);
  ToolRun run;
  run.result = run_tool(args, env, timeout);
  const std::string text = read_file(path);
  run.report = text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text, nullptr, false);
  if (run.report.is_discarded()) {
    FAIL_CHECK("the JSON report does not parse: " << text);
    run.report = nlohmann::json::object();
  }
  return run;
}

void require_same_dumps(KeyReader& src, KeyReader& dst, const std::vector<std::string>& keys) {
  std::size_t differing = 0;
  for (const auto& k : keys) {
    Reply a = src.command({"DUMP", k});
    Reply b = dst.command({"DUMP", k});
    if (!a.is_string()) continue;  // gone on the source (short TTL)
    // A hashtable-encoded set or hash is serialised in its table's order, which depends on each server's
    // random hash seed: equal contents, different bytes. compare_keyspaces checks those by content.
    if (src.command({"OBJECT", "ENCODING", k}).str == "hashtable") continue;
    if (!b.is_string() || a.str != b.str) {
      if (++differing <= 5)
        FAIL_CHECK("DUMP differs for key " << Reply{Reply::Type::kString, k, 0, {}}.to_string());
    }
  }
  CHECK(differing == 0);
}

long long user_dbsize(KeyReader& client) {
  return client.dbsize() - static_cast<long long>(client.scan_all("redis-migrate:*").size());
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

std::vector<std::string> nonempty_lines(const std::string& text) {
  std::vector<std::string> out;
  for (auto& line : lines_with(text, "")) {
    if (!line.empty()) out.push_back(std::move(line));
  }
  return out;
}

void require_secret_hidden(const ToolRun& run, const std::string& secret) {
  CHECK_MESSAGE(run.result.out.find(secret) == std::string::npos, "secret in stdout: " << run.result.out);
  CHECK_MESSAGE(run.result.err.find(secret) == std::string::npos, "secret in stderr: " << run.result.err);
  CHECK_MESSAGE(run.report.dump().find(secret) == std::string::npos, "secret in the report");
}

const std::vector<std::string> kForbiddenCommands = {"keys", "migrate", "config",   "debug",
                                                     "sync", "psync",   "randomkey"};

std::map<std::string, long long> forbidden_calls(KeyReader& client) {
  std::map<std::string, long long> calls;
  for (const auto& c : kForbiddenCommands)
    calls[c] = 0;
  const Reply stats = client.command({"INFO", "commandstats"});
  REQUIRE_MESSAGE(stats.is_string(), "INFO commandstats: " << stats.to_string());
  // Lines like "cmdstat_config|get:calls=3,usec=..." (Redis 7) or "cmdstat_config:calls=3,..." (Redis 6).
  std::istringstream in(stats.str);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cmdstat_", 0) != 0) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(8, colon - 8);
    name = name.substr(0, name.find('|'));
    auto it = calls.find(name);
    const std::size_t at = line.find("calls=", colon);
    if (it == calls.end() || at == std::string::npos) continue;
    it->second += std::stoll(line.substr(at + 6));
  }
  return calls;
}

void check_no_forbidden_calls(const std::map<std::string, long long>& before,
                              const std::map<std::string, long long>& after, const std::string& side) {
  for (const auto& c : kForbiddenCommands) {
    const long long b = before.count(c) != 0 ? before.at(c) : 0;
    const long long a = after.count(c) != 0 ? after.at(c) : 0;
    CHECK_MESSAGE(a == b, side << " received " << (a - b) << " " << c << " command(s) during the run");
  }
}

}  // namespace rmig::test
