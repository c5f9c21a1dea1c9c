#include "helpers.hpp"

#include <algorithm>
#include <cstdlib>
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

std::string seeded_value(const std::string& prefix, int i, std::size_t size) {
  std::string value = prefix + std::to_string(i) + ":";
  value.resize(std::max(size, value.size()), static_cast<char>('a' + i % 26));
  return value;
}

void seed_strings(KeyWriter& c, int n, const std::string& prefix, std::size_t size, long long px) {
  std::vector<Command> cmds;
  for (int i = 0; i < n; ++i) {
    Command cmd{"SET", prefix + std::to_string(i), seeded_value(prefix, i, size)};
    if (px > 0) {
      cmd.push_back("PX");
      cmd.push_back(std::to_string(px));
    }
    cmds.push_back(std::move(cmd));
    if (cmds.size() == 10000) {
      c.pipeline_checked(cmds);
      cmds.clear();
    }
  }
  c.pipeline_checked(cmds);
}

void seed_big_set(KeyWriter& c, const std::string& key, int members, const std::string& suffix) {
  std::vector<Command> cmds;
  for (int b = 0; b < members; b += 5000) {
    Command cmd{"SADD", key};
    for (int i = b; i < std::min(members, b + 5000); ++i)
      cmd.push_back("member-" + std::to_string(i) + suffix);
    cmds.push_back(std::move(cmd));
  }
  c.pipeline_checked(cmds);
}

ToolRun run_verify(const std::string& src, const std::string& dst, std::vector<std::string> extra) {
  std::vector<std::string> args = {"verify", src, dst};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_copy(args);
}

ToolRun run_cleanup(const std::string& src, const std::string& dst, std::vector<std::string> extra) {
  std::vector<std::string> args = {"cleanup", src, dst};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_copy(args);
}

std::string error_line(const RunResult& result) {
  for (const auto& l : lines_with(result.err, "redis-migrate: "))
    return l;
  for (const auto& l : lines_with(result.err, "stopped: "))
    return l;
  return {};
}

std::string error_line(const ToolRun& run) { return error_line(run.result); }

std::string refused(std::vector<std::string> args, int code, const EnvOverrides& env) {
  auto run = run_copy(std::move(args), env);
  INFO(run.result.describe());
  CHECK(run.exit_code() == code);
  CHECK(run.counter("deleted") == 0);
  const std::string line = error_line(run);
  CHECK(!line.empty());
  return line;
}

std::string usage_refusal(const std::vector<std::string>& args, const EnvOverrides& env) {
  const RunResult r = run_tool(args, env);
  INFO(r.describe());
  CHECK(r.exit_code == 2);
  const auto lines = nonempty_lines(r.err);
  REQUIRE(lines.size() == 1);
  return lines[0];
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

nlohmann::json latest_record(KeyReader& dst, const std::string& prefix) {
  Reply ids = dst.command({"ZREVRANGE", prefix + "run:index", "0", "0"});
  if (!ids.is_array() || ids.elements.empty()) return nullptr;
  Reply v = dst.command({"GET", prefix + "run:" + ids.elements[0].str});
  if (!v.is_string()) return nullptr;
  return nlohmann::json::parse(v.str);
}

uint64_t record_scanned(const nlohmann::json& record) {
  uint64_t n = 0;
  if (record.is_object()) {
    for (const auto& node : record["nodes"])
      n += node["counters"]["scanned"].get<uint64_t>();
  }
  return n;
}

namespace {
// A field of the command's line in INFO commandstats (0 when absent).
long long command_stat(KeyReader& c, const std::string& command, const std::string& field) {
  const Reply r = c.command({"INFO", "commandstats"});
  const auto line = r.str.find("cmdstat_" + command + ":");
  if (line == std::string::npos) return 0;
  const std::string_view rest = std::string_view(r.str).substr(line, r.str.find('\n', line) - line);
  const auto at = rest.find(field + "=");
  if (at == std::string_view::npos || (at > 0 && rest[at - 1] != ':' && rest[at - 1] != ',')) return 0;
  return std::atoll(rest.data() + at + field.size() + 1);
}
}  // namespace

long long command_calls(KeyReader& c, const std::string& command) {
  return command_stat(c, command, "calls");
}

long long value_reads(KeyReader& c) {
  return command_calls(c, "dump") + command_calls(c, "getrange") -
         command_stat(c, "getrange", "failed_calls");
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
