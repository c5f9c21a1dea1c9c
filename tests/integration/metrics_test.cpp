// --metrics-port: Prometheus metrics scraped over plain HTTP while a copy and a verify run (real values, the
// info gauge without passwords), a port in use or a bad port refused before anything is written, and the
// long-running live Kubernetes manifest with its port, scrape annotations and cut-over step.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "helpers.hpp"
#include "support/ports.hpp"
#include "support/redis_server.hpp"

using namespace rmig::test;

namespace {

// One sample of the text exposition format: name{labels} value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Scrape {
  int status = 0;  // HTTP status; 0 when nothing answered
  std::string content_type;
  std::string body;
  std::vector<Sample> samples;

  // The value of the one sample named `name` whose labels include `labels`; nullopt when there is none.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    std::optional<double> found;
    for (const Sample& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) match = false;
      }
      if (!match) continue;
      REQUIRE_MESSAGE(!found, "more than one sample of " << name << " matches");
      found = s.value;
    }
    return found;
  }
  const Sample* find(const std::string& name) const {
    for (const Sample& s : samples)
      if (s.name == name) return &s;
    return nullptr;
  }
};

// Parses label pairs k="v",k2="v2" (values with \" \\ \n escapes).
std::map<std::string, std::string> parse_labels(const std::string& text) {
  std::map<std::string, std::string> labels;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t eq = text.find('=', i);
    REQUIRE(eq != std::string::npos);
    const std::string key = text.substr(i, eq - i);
    REQUIRE(eq + 1 < text.size());
    REQUIRE(text[eq + 1] == '"');
    std::string value;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    REQUIRE(j < text.size());
    labels[key] = value;
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  return labels;
}

// GET /metrics over a plain TCP connection to 127.0.0.1:port (HTTP/1.0: the server closes when done).
Scrape scrape(int port) {
  Scrape out;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos) return out;
  const std::string head = response.substr(0, head_end);
  out.body = response.substr(head_end + 4);
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  const std::size_t sp = line.find(' ');
  if (sp != std::string::npos) out.status = std::atoi(line.c_str() + sp + 1);
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string lower = line;
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("content-type:", 0) == 0) out.content_type = line.substr(13);
  }
  std::istringstream body(out.body);
  while (std::getline(body, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    const std::size_t value_at = line.rfind(' ');
    REQUIRE(value_at != std::string::npos);
    std::string series = line.substr(0, value_at);
    s.value = std::strtod(line.c_str() + value_at + 1, nullptr);
    const std::size_t brace = series.find('{');
    if (brace == std::string::npos) {
      s.name = series;
    } else {
      REQUIRE(series.back() == '}');
      s.name = series.substr(0, brace);
      s.labels = parse_labels(series.substr(brace + 1, series.size() - brace - 2));
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

// Scrapes until `ready` holds for a scrape (that scrape), or the tool ended / `timeout` passed (nullopt).
std::optional<Scrape> scrape_until(ToolProcess& tool, int port,
                                   const std::function<bool(const Scrape&)>& ready,
                                   std::chrono::milliseconds timeout = 20s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end && tool.running()) {
    Scrape s = scrape(port);
    if (s.status == 200 && ready(s)) return s;
    std::this_thread::sleep_for(100ms);
  }
  return std::nullopt;
}

// A socket listening on 0.0.0.0:port for as long as it lives.
struct Listener {
  int fd = -1;
  explicit Listener(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 4) == 0);
  }
  ~Listener() { ::close(fd); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
};

double keys(const Scrape& s, const std::string& outcome) {
  return s.value("redis_migrate_keys_total", {{"outcome", outcome}}).value_or(-1);
}

}  // namespace

TEST_SUITE("metrics") {
  TEST_CASE("a copy and a verify serve their metrics over HTTP while they run") {
    const std::string password = "metrics-s3cret";
    RedisServer src_server({.requirepass = password});
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    constexpr int kKeys = 1500;
    seed_strings(src, kKeys, "m:", 40);
    const std::string src_url = src_server.url_as("default", password);
    const int port = free_port();

    // The copy reads 500 keys a second: about 3 s to scrape it in. The option sits between the URLs.
    ToolProcess copy = start_tool({src_url, "--metrics-port", std::to_string(port), dst_server.url(),
                                   "--rate-limit", "500", "--progress-interval", "0"});
    auto during = scrape_until(copy, port, [](const Scrape& s) { return keys(s, "copied") > 0; });
    REQUIRE_MESSAGE(during, "no scrape showed copied keys while the copy ran: " << copy.err());
    CHECK(contains(during->content_type, "text/plain"));
    const double copied_then = keys(*during, "copied");
    CHECK(copied_then < kKeys);  // scraped while the copy ran
    CHECK(keys(*during, "failed") == 0);
    CHECK(keys(*during, "skipped") == 0);
    CHECK(keys(*during, "scanned") >= copied_then);
    CHECK(during->value("redis_migrate_bytes_total").value_or(0) > copied_then);
    CHECK(during->value("redis_migrate_errors_total") == 0);
    CHECK(during->value("redis_migrate_keys_in_flight").has_value());
    CHECK(during->value("redis_migrate_paused", {{"reason", "rate_limit"}}).has_value());
    // The info gauge: the command and both URLs, without the password.
    const Sample* info = during->find("redis_migrate_info");
    REQUIRE(info != nullptr);
    CHECK(info->value == 1);
    CHECK(info->labels.at("command") == "copy");
    CHECK(contains(info->labels.at("source"), "127.0.0.1:" + std::to_string(src_server.port())));
    CHECK(contains(info->labels.at("destination"), "127.0.0.1:" + std::to_string(dst_server.port())));
    CHECK(!contains(during->body, password));
    // No live metrics in a run without --live.
    CHECK(during->find("redis_migrate_pending_keys") == nullptr);
    CHECK(during->find("redis_migrate_phase") == nullptr);

    // A later scrape: the counters only grow.
    auto later = scrape_until(copy, port, [&](const Scrape& s) { return keys(s, "copied") > copied_then; });
    if (later) CHECK(keys(*later, "copied") <= kKeys);
    const RunResult r = copy.finish(60s);
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(!contains(r.err, password));
    CHECK(user_dbsize(dst) == kKeys);

    // verify, with the port from METRICS_PORT: its own command and its checked keys.
    ToolProcess verify =
        start_tool({"verify", src_url, dst_server.url(), "--rate-limit", "500", "--progress-interval", "0"},
                   {{"METRICS_PORT", std::to_string(port)}});
    auto checking = scrape_until(verify, port, [](const Scrape& s) { return keys(s, "checked") > 0; });
    REQUIRE_MESSAGE(checking, "no scrape showed checked keys while verify ran: " << verify.err());
    CHECK(checking->find("redis_migrate_info")->labels.at("command") == "verify");
    CHECK(keys(*checking, "equal") > 0);
    CHECK(keys(*checking, "missing") == 0);
    CHECK(keys(*checking, "copied") == 0);
    const RunResult v = verify.finish(60s);
    CHECK_MESSAGE(v.exit_code == 0, v.describe());
  }

  TEST_CASE("a port in use or out of range is refused with exit 2 before anything is written") {
    RedisServer src_server;
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 50, "r:");
    const int port = free_port();
    Listener taken(port);
    const std::string p = std::to_string(port);
    const std::string s = src_server.url(), d = dst_server.url();
    for (const auto& [args, env] : std::vector<std::pair<std::vector<std::string>, EnvOverrides>>{
             {{"--metrics-port", p, s, d}, {}},
             {{s, d, "--metrics-port=" + p}, {}},
             {{s, d}, {{"METRICS_PORT", p}}},
             {{"plan", s, d, "--metrics-port", p}, {}},
             {{"verify", s, "--metrics-port", p, d}, {}},
             {{"cleanup", s, d, "--yes"}, {{"METRICS_PORT", p}}}}) {
      CAPTURE(quote_command(args));
      const RunResult r = run_tool(args, env);
      CHECK(r.exit_code == 2);
      const auto lines = nonempty_lines(r.err);
      REQUIRE(lines.size() == 1);
      CHECK(lines[0] ==
            "redis-migrate: --metrics-port " + p + ": address already in use: choose another port");
    }
    CHECK(dst.dbsize() == 0);  // not even the lock
    CHECK(src.dbsize() == 50);

    for (const std::string bad : {"0", "65536", "-1", "abc", "9121.5"}) {
      CAPTURE(bad);
      const RunResult r = run_tool({s, d, "--metrics-port", bad});
      CHECK(r.exit_code == 2);
      const auto lines = nonempty_lines(r.err);
      REQUIRE(lines.size() == 1);
      CHECK(contains(lines[0], "--metrics-port"));
      CHECK(contains(lines[0], "1 to 65535"));
    }
    CHECK(dst.dbsize() == 0);

    // --help names the option and its variable.
    const RunResult help = run_tool({"--help"});
    CHECK(help.exit_code == 0);
    CHECK(contains(help.out, "--metrics-port"));
    CHECK(contains(help.out, "METRICS_PORT"));
  }

  TEST_CASE("the long-running live manifest declares the metrics port, scrape annotations and a cut-over") {
    const std::string path = std::string(RM_SOURCE_DIR) + "/scripts/k8s/migrate-live-job.yaml";
    std::ifstream in(path);
    REQUIRE(in.good());
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    CHECK(text.find('\t') == std::string::npos);
    // The cut-over step is documented in the manifest itself.
    CHECK(contains(text, "redis-migrate cutover"));
    // A live run ends only by its cut-over: no deadline that would stop it first.
    CHECK(!contains(text, "\n  activeDeadlineSeconds:"));
    auto parsed = run({"python3", "-c",
                       "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path});
    if (parsed.exit_code != 0) {
      MESSAGE("no PyYAML: structural check only");
      for (const char* field :
           {"kind: Job", "restartPolicy: Never", "containerPort: 9121", "prometheus.io/scrape: \"true\"",
            "prometheus.io/port: \"9121\"", "- --live", "runAsNonRoot: true", "readOnlyRootFilesystem: true"})
        CHECK(contains(text, field));
      return;
    }
    const auto j = nlohmann::json::parse(parsed.out);
    CHECK(j["kind"] == "Job");
    const auto& spec = j["spec"];
    CHECK(!spec.contains("activeDeadlineSeconds"));
    CHECK(spec.value("parallelism", 1) == 1);
    // An exit after the cut-over is final: a retry would start syncing again onto a destination the
    // application now writes to. Exit 1 (keys failed, or --verify-at-cutover found a difference) and 6 (no
    // report) come only at the end of the run.
    bool final_codes = false;
    for (const auto& rule : spec["podFailurePolicy"]["rules"]) {
      if (rule["action"] != "FailJob" || !rule.contains("onExitCodes")) continue;
      std::vector<int> codes = rule["onExitCodes"]["values"].get<std::vector<int>>();
      final_codes = std::find(codes.begin(), codes.end(), 1) != codes.end() &&
                    std::find(codes.begin(), codes.end(), 2) != codes.end() &&
                    std::find(codes.begin(), codes.end(), 6) != codes.end();
    }
    CHECK(final_codes);
    const auto& meta = spec["template"]["metadata"];
    CHECK(meta["annotations"]["prometheus.io/scrape"] == "true");
    CHECK(meta["annotations"]["prometheus.io/port"] == "9121");
    CHECK(meta["annotations"]["prometheus.io/path"] == "/metrics");
    const auto& pod = spec["template"]["spec"];
    CHECK(pod["restartPolicy"] == "Never");
    CHECK(pod["securityContext"]["runAsNonRoot"] == true);
    const auto& c = pod["containers"][0];
    CHECK(c["securityContext"]["readOnlyRootFilesystem"] == true);
    bool port_declared = false;
    for (const auto& p : c["ports"])
      port_declared = port_declared || (p["containerPort"] == 9121 && p.value("name", "") == "metrics");
    CHECK(port_declared);
    std::vector<std::string> args;
    for (const auto& a : c["args"])
      args.push_back(a.get<std::string>());
    CHECK(std::find(args.begin(), args.end(), "--live") != args.end());
    auto mp = std::find(args.begin(), args.end(), "--metrics-port");
    REQUIRE(mp != args.end());
    REQUIRE(mp + 1 != args.end());
    CHECK(*(mp + 1) == "9121");
    // The URLs come from the Secret, as in migrate-job.yaml (so `kubectl exec ... redis-migrate cutover`
    // finds the destination in the pod's environment).
    const std::string env = c["env"].dump();
    CHECK(contains(env, "\"name\":\"DESTINATION_REDIS_URL\""));
    CHECK(contains(env, "\"secretKeyRef\":{\"key\":\"destination-url\",\"name\":\"redis-migrate\"}"));
  }
}
