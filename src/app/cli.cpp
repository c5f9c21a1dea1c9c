#include "app/cli.hpp"

#include <CLI/CLI.hpp>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/url.hpp"
#include "copy/rename.hpp"
#include "net/tls.hpp"

namespace rmig::app {

namespace {

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0    everything selected was copied, or legitimately skipped, expired or vanished\n"
    "  1    some keys failed (see the errors in the summary / report); verify: differences found; cleanup:\n"
    "       keys that differ or changed were kept\n"
    "  2    usage or configuration error (bad URL, unknown option, bad value)\n"
    "  3    cannot connect or authenticate (unreachable host, TLS, wrong password, missing ACL permission,\n"
    "       a command refused or renamed)\n"
    "  4    another run holds the destination's lock\n"
    "  5    the destination refuses writes (read-only replica, out of memory, cannot persist)\n"
    "  6    the work finished but its --report-json could not be written in full (disk full, stdout closed)\n"
    "  70   internal error (a bug: please report it)\n"
    "  130  interrupted by SIGINT, 143 by SIGTERM, 129 by SIGHUP (keys in flight were finished first)\n";

constexpr const char* kEnvHelp =
    "Environment:\n"
    "  SOURCE_REDIS_URL, DESTINATION_REDIS_URL  used when the URLs are not given as arguments (keeps\n"
    "                                           passwords out of the process list)\n"
    "  DRY_RUN=1 (--dry-run), DEBUG=1 (--log-level debug), REPLACE_DST_KEYS=1 (--replace), CLEAN_UP=1 "
    "(--cleanup)\n"
    "  Every other option reads the variable shown next to it, e.g. REPORT_JSON=/tmp/report.json.\n"
    "  Command-line values win over the environment.\n";

constexpr const char* kUrlHelp =
    "URLs:\n"
    "  redis://[[user]:password@]host[:port][/db]   (defaults: port 6379, db 0; IPv6 as [::1])\n"
    "  rediss://...                                 the same over TLS\n"
    "  unix:///path/to/redis.sock[?db=N]\n"
    "  Percent-encode special characters in passwords (@ as %40). Passwords are never printed.\n";

struct SideFlags {
  std::string url;
  std::string password_file;
  net::TlsConfig tls;
};

void add_side_options(CLI::App& app, const std::string& side, SideFlags& f) {
  const std::string up = side == "source" ? "SOURCE" : "DESTINATION";
  const std::string group = side == "source" ? "Source connection" : "Destination connection";
  app.add_option("--" + side + "-password-file", f.password_file,
                 "read the " + side +
                     " password from this file (e.g. a mounted Kubernetes secret); "
                     "overrides the URL's password")
      ->envname(up + "_PASSWORD_FILE")
      ->group(group);
  app.add_option("--" + side + "-tls-ca-file", f.tls.ca_file,
                 "PEM file of CAs trusted for the " + side + "'s certificate (default: system store)")
      ->envname(up + "_TLS_CA_FILE")
      ->group(group);
  app.add_option("--" + side + "-tls-ca-dir", f.tls.ca_dir, "directory of hashed CA certificates")
      ->envname(up + "_TLS_CA_DIR")
      ->group(group);
  app.add_option("--" + side + "-tls-cert", f.tls.cert_file, "client certificate (PEM) for mutual TLS")
      ->envname(up + "_TLS_CERT")
      ->group(group);
  app.add_option("--" + side + "-tls-key", f.tls.key_file, "client private key (PEM) for mutual TLS")
      ->envname(up + "_TLS_KEY")
      ->group(group);
  app.add_option("--" + side + "-tls-server-name", f.tls.server_name,
                 "name sent as SNI and verified in the certificate (default: the URL's host)")
      ->envname(up + "_TLS_SERVER_NAME")
      ->group(group);
  app.add_flag("--" + side + "-tls-insecure", f.tls.insecure,
               "do not verify the " + side + "'s certificate or host name (testing only; prints a warning)")
      ->envname(up + "_TLS_INSECURE")
      ->group(group);
}

Result<std::string> read_secret_file(const std::string& path, const std::string& option) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(ExitCode::kUsage, option + " " + path +
                                            ": cannot read the file: check the path and "
                                            "its permissions");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
  if (s.empty()) return make_error(ExitCode::kUsage, option + " " + path + ": the file is empty");
  return s;
}

// Builds one side's connection options from its URL and flags.
Result<resp::ConnectOptions> build_side(const std::string& side, SideFlags& f, std::string& redacted) {
  const std::string what = side + " URL";
  auto url = parse_redis_url(f.url, what);
  if (!url) return url.error();
  resp::ConnectOptions o;
  o.endpoint = url->endpoint;
  o.user = url->user;
  o.password = url->password;
  o.db = url->db;
  o.side = side;
  if (!f.password_file.empty()) {
    auto pw = read_secret_file(f.password_file, "--" + side + "-password-file");
    if (!pw) return pw.error();
    o.password = *pw;
    o.password_origin = "the file " + f.password_file + " (--" + side + "-password-file)";
    url->password = *pw;
  }
  const bool tls_flags = !f.tls.ca_file.empty() || !f.tls.ca_dir.empty() || !f.tls.cert_file.empty() ||
                         !f.tls.key_file.empty() || !f.tls.server_name.empty() || f.tls.insecure;
  if (o.endpoint.tls.enabled) {
    net::TlsConfig tls = f.tls;
    tls.enabled = true;
    o.endpoint.tls = tls;
    auto ctx = net::TlsContext::create(tls, side);
    if (!ctx) return ctx.error();
    o.tls = *ctx;
    if (tls.insecure) {
      std::fprintf(
          stderr,
          "redis-migrate: WARNING: --%s-tls-insecure: the %s's TLS certificate and host name are NOT "
          "verified; anyone between you and the server can read and change the data, passwords "
          "included. Use it for tests only.\n",
          side.c_str(), side.c_str());
    }
  } else if (tls_flags) {
    return make_error(ExitCode::kUsage, "--" + side + "-tls-* options were given but the " + side +
                                            " URL is not rediss://: use rediss:// to connect with TLS");
  }
  redacted = url->redacted();
  o.label = side + " " + redacted;
  return o;
}

// CLI11 error texts may echo arguments; URLs among them lose their passwords here.
std::string redact_urls(std::string text) {
  std::size_t pos = 0;
  while ((pos = text.find("://", pos)) != std::string::npos) {
    std::size_t start = text.rfind(' ', pos);
    start = start == std::string::npos ? 0 : start + 1;
    std::size_t end = text.find_first_of(" \n", pos);
    if (end == std::string::npos) end = text.size();
    std::string red = redact_raw_url(std::string_view(text).substr(start, end - start));
    text.replace(start, end - start, red);
    pos = start + red.size();
  }
  return text;
}

int env_flag(const char* name, bool& out) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  std::string s(v);
  for (auto& ch : s)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (s == "1" || s == "true" || s == "yes" || s == "on") {
    out = true;
    return 0;
  }
  if (s == "0" || s == "false" || s == "no" || s == "off") return 0;
  std::fprintf(stderr, "redis-migrate: %s=%s is not a boolean: use 1 or 0\n", name, v);
  return 2;
}

Result<uint32_t> seconds_to_ms(double s, const char* option) {
  if (!(s >= 0) || s > 86400.0 * 7) {
    return make_error(ExitCode::kUsage,
                      std::string(option) + " must be a number of seconds between 0 and 604800");
  }
  return static_cast<uint32_t>(s * 1000.0);
}

// Every raw value the command line and the environment can give, before validation.
struct Flags {
  SideFlags src, dst;
  // copy
  bool dry_run = false, replace = false, cleanup = false;
  std::string on_conflict = "skip", merge_prefer = "destination";
  // selection
  std::vector<std::string> match, exclude, types;
  std::vector<std::pair<std::string, std::string>> rename_prefix, rename_regex;
  bool all_dbs = false;
  // tuning
  std::string window_bytes = "16MB", max_bytes_per_sec;
  // paths
  std::string mode = "auto", big_key_threshold = "64MB";
  double connect_timeout_s = 10, timeout_s = 60, retry_timeout_s = 60, progress_s = 5;
  uint64_t rate_limit = 0;
  // cluster
  std::string source_cluster = "auto", destination_cluster = "auto", read_from = "primaries";
  // output
  std::string log_level = "info", log_format = "text";
  // verify
  double ttl_tolerance_s = 5;
};

void add_urls(CLI::App& app, Flags& f, bool source) {
  if (source) {
    app.add_option("SOURCE_URL", f.src.url, "where the keys are read (redis://, rediss://, unix://)")
        ->envname("SOURCE_REDIS_URL");
  }
  app.add_option("DESTINATION_URL", f.dst.url, "where the keys are written")
      ->envname("DESTINATION_REDIS_URL");
}

// `all_dbs`: the command takes --all-dbs (copy and plan; verify and cleanup work on one database).
void add_selection_options(CLI::App& app, Flags& f, bool all_dbs) {
  const std::string g = "Selection and renaming";
  app.add_option(
         "--match", f.match,
         "copy only keys matching this glob (Redis SCAN MATCH syntax; repeatable: any may match; a single "
         "pattern is applied by the server, so other keys are never dumped)")
      ->envname("MATCH")
      ->delimiter(',')
      ->group(g);
  app.add_option("--exclude", f.exclude, "leave out keys matching this glob (repeatable)")
      ->envname("EXCLUDE")
      ->delimiter(',')
      ->group(g);
  app.add_option("--type", f.types,
                 "copy only keys of this type: string, list, set, zset, hash, stream (repeatable)")
      ->envname("TYPE")
      ->delimiter(',')
      ->check(CLI::IsMember({"string", "list", "set", "zset", "hash", "stream"}))
      ->group(g);
  app.add_option(
         "--rename-prefix", f.rename_prefix,
         "OLD NEW: a key starting with OLD lands as NEW + the rest (repeatable; the first matching rule "
         "wins; keys no rule matches keep their name) [env: RENAME_PREFIX, rules separated by ';' or "
         "newlines, OLD and NEW by a space]")
      ->group(g);
  app.add_option(
         "--rename", f.rename_regex,
         "REGEX REPLACEMENT: a key the RE2 regex matches entirely lands under REPLACEMENT, with \\\\1-style "
         "captures (repeatable, in order with --rename-prefix) [env: RENAME, as RENAME_PREFIX; its rules "
         "come after RENAME_PREFIX's]")
      ->group(g);
  if (!all_dbs) return;
  app.add_flag("--all-dbs", f.all_dbs, "copy every non-empty logical DB N to DB N (standalone servers)")
      ->envname("ALL_DBS")
      ->group(g);
}

void add_tuning_options(CLI::App& app, Flags& f, copy::CopyOptions& o) {
  const std::string g = "Tuning";
  app.add_option("--window-keys", o.window.keys, "keys in flight at most (between DUMP and RESTORE reply)")
      ->envname("WINDOW_KEYS")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str()
      ->group(g);
  app.add_option("--window-bytes", f.window_bytes,
                 "DUMP payload and rewrite-path chunk bytes held at most (e.g. 16MB)")
      ->envname("WINDOW_BYTES")
      ->capture_default_str()
      ->group(g);
  app.add_option("--scan-count", o.window.scan_count, "COUNT hint given to SCAN")
      ->envname("SCAN_COUNT")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str()
      ->group(g);
  app.add_option("--rate-limit", f.rate_limit,
                 "read at most this many keys per second from the source (spares a production primary; 0: no "
                 "limit)")
      ->envname("RATE_LIMIT")
      ->group(g);
  app.add_option("--max-bytes-per-sec", f.max_bytes_per_sec,
                 "read at most this many DUMP bytes per second from the source (e.g. 20MB)")
      ->envname("MAX_BYTES_PER_SEC")
      ->group(g);
  app.add_option("--connect-timeout", f.connect_timeout_s,
                 "seconds to connect, finish the TLS handshake and authenticate")
      ->envname("CONNECT_TIMEOUT")
      ->capture_default_str()
      ->group(g);
  app.add_option("--timeout", f.timeout_s, "seconds without any reply before a connection is considered dead")
      ->envname("TIMEOUT")
      ->capture_default_str()
      ->group(g);
  app.add_option("--retry-timeout", f.retry_timeout_s,
                 "seconds a dropped connection is reconnected, and a retryable per-key error (LOADING, BUSY, "
                 "TRYAGAIN) retried, before giving up")
      ->envname("RETRY_TIMEOUT")
      ->capture_default_str()
      ->group(g);
}

void add_path_options(CLI::App& app, Flags& f) {
  const std::string g = "Paths (dump and rewrite)";
  app.add_option(
         "--mode", f.mode,
         "how keys travel: auto (DUMP/RESTORE; a key the destination cannot RESTORE, e.g. from a newer "
         "server, and a key above --big-key-threshold are rebuilt with the type's own commands), dump "
         "(DUMP/RESTORE only) or rewrite (every key rebuilt)")
      ->envname("MODE")
      ->check(CLI::IsMember({"auto", "dump", "rewrite"}))
      ->capture_default_str()
      ->group(g);
  app.add_option(
         "--big-key-threshold", f.big_key_threshold,
         "auto mode: a key larger than this (MEMORY USAGE, or the type's length where MEMORY is refused) "
         "is copied in chunks by the rewrite path, so memory stays bounded and no single command blocks a "
         "server for long (0: no size check)")
      ->envname("BIG_KEY_THRESHOLD")
      ->capture_default_str()
      ->group(g);
}

void add_cluster_options(CLI::App& app, Flags& f) {
  const std::string g = "Cluster";
  app.add_option(
         "--source-cluster", f.source_cluster,
         "on, off or auto: treat the source as a Redis Cluster (auto: ask it with INFO cluster); any node "
         "of the cluster is enough as SOURCE_URL")
      ->envname("SOURCE_CLUSTER")
      ->check(CLI::IsMember({"on", "off", "auto"}))
      ->capture_default_str()
      ->group(g);
  app.add_option(
         "--destination-cluster", f.destination_cluster,
         "on, off or auto: treat the destination as a Redis Cluster (each RESTORE goes to the node owning "
         "the key's slot)")
      ->envname("DESTINATION_CLUSTER")
      ->check(CLI::IsMember({"on", "off", "auto"}))
      ->capture_default_str()
      ->group(g);
  app.add_option("--read-from", f.read_from,
                 "primaries or replicas: where a source cluster is scanned and dumped (replicas spare the "
                 "production primaries; READONLY)")
      ->envname("READ_FROM")
      ->check(CLI::IsMember({"primaries", "replicas"}))
      ->capture_default_str()
      ->group(g);
}

void add_output_options(CLI::App& app, Flags& f, Config& cfg) {
  const std::string g = "Output";
  app.add_option("--report-json", cfg.report_json,
                 "write the final report as JSON to FILE; '-' writes it to stdout, which then carries only "
                 "the JSON (everything for people goes to stderr)")
      ->envname("REPORT_JSON")
      ->group(g);
  app.add_option("--progress-interval", f.progress_s, "seconds between progress lines on stderr (0: none)")
      ->envname("PROGRESS_INTERVAL")
      ->capture_default_str()
      ->group(g);
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error or off (DEBUG=1 means debug)")
      ->envname("LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str()
      ->group(g);
  app.add_option("--log-format", f.log_format, "text, or json for one JSON object per line (log collectors)")
      ->envname("LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str()
      ->group(g);
}

void add_state_options(CLI::App& app, Config& cfg, bool writes) {
  const std::string g = "Lock and state";
  app.add_option(
         "--state-prefix", cfg.state.prefix,
         "prefix of the tool's own keys on the destination (lock and run state); they are never copied "
         "or verified")
      ->envname("STATE_PREFIX")
      ->capture_default_str()
      ->group(g);
  if (!writes) return;
  app.add_flag("--no-lock", cfg.state.no_lock,
               "do not take the destination's lock (another run may write at once)")
      ->envname("NO_LOCK")
      ->group(g);
  app.add_option("--lock-ttl", cfg.state.lock_ttl_s,
                 "seconds the lock lives without renewal (renewed every third of it while the run lives): "
                 "the lock of a killed run expires after this")
      ->envname("LOCK_TTL")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str()
      ->group(g);
  app.add_option(
         "--state-file", cfg.state.state_file,
         "keep the checkpoint in this file instead of on the destination (keeps the destination pristine)")
      ->envname("STATE_FILE")
      ->group(g);
  app.add_flag("--restart", cfg.state.restart,
               "ignore the checkpoint of an earlier run and start from the beginning")
      ->envname("RESTART")
      ->group(g);
}

// Everything a copy, a plan, a verify and a cleanup share (--all-dbs: copy and plan only).
void add_run_options(CLI::App& app, Flags& f, Config& cfg, bool all_dbs) {
  add_urls(app, f, true);
  add_selection_options(app, f, all_dbs);
  add_side_options(app, "source", f.src);
  add_side_options(app, "destination", f.dst);
  add_cluster_options(app, f);
  add_tuning_options(app, f, cfg.copy.options);
  add_path_options(app, f);
  add_output_options(app, f, cfg);
}

void add_conflict_options(CLI::App& app, Flags& f, Config& cfg) {
  const std::string g = "Copy";
  app.add_flag("--replace", f.replace,
               "overwrite keys that already exist on the destination (= --on-conflict replace)")
      ->envname("REPLACE_DST_KEYS")
      ->group(g);
  app.add_option(
         "--on-conflict", f.on_conflict,
         "what to do with a key that exists on the destination: skip (default), replace, merge (fold a "
         "hash, set or zset into the existing one) or fail (stop at the first one)")
      ->envname("ON_CONFLICT")
      ->check(CLI::IsMember({"skip", "replace", "merge", "fail"}))
      ->capture_default_str()
      ->group(g);
  app.add_option(
         "--merge-prefer", f.merge_prefer,
         "with --on-conflict merge, whose value wins for a field or member on both sides: destination "
         "(default) or source")
      ->envname("MERGE_PREFER")
      ->check(CLI::IsMember({"source", "destination"}))
      ->capture_default_str()
      ->group(g);
  app.add_option("--examples", cfg.copy.options.examples, "number of example keys listed by a plan / dry run")
      ->envname("EXAMPLES")
      ->capture_default_str()
      ->group(g);
}

// The rename rules in command-line order (first match wins across --rename-prefix and --rename).
std::vector<copy::RuleSpec> rule_specs(const CLI::App& app, const Flags& f) {
  std::vector<copy::RuleSpec> specs;
  std::size_t prefix = 0, regex = 0, seen_prefix = 0, seen_regex = 0;
  for (const CLI::Option* o : app.parse_order()) {
    // Each rule is two values, each counted once in the parse order.
    if (o->get_name() == "--rename-prefix" && (++seen_prefix % 2) == 0 && prefix < f.rename_prefix.size()) {
      const auto& [from, to] = f.rename_prefix[prefix++];
      specs.push_back(copy::RuleSpec{copy::RuleSpec::Kind::kPrefix, from, to});
    } else if (o->get_name() == "--rename" && (++seen_regex % 2) == 0 && regex < f.rename_regex.size()) {
      const auto& [from, to] = f.rename_regex[regex++];
      specs.push_back(copy::RuleSpec{copy::RuleSpec::Kind::kRegex, from, to});
    }
  }
  return specs;
}

// The rules of RENAME_PREFIX and RENAME (used when the command line has no rename rule): RENAME_PREFIX's
// first, each in its own order.
Result<std::vector<copy::RuleSpec>> env_rule_specs() {
  std::vector<copy::RuleSpec> specs;
  for (auto [name, kind] : {std::pair{"RENAME_PREFIX", copy::RuleSpec::Kind::kPrefix},
                            std::pair{"RENAME", copy::RuleSpec::Kind::kRegex}}) {
    const char* v = std::getenv(name);
    if (v == nullptr) continue;
    auto rules = parse_rule_list(v, kind, name);
    if (!rules) return rules.error();
    specs.insert(specs.end(), rules->begin(), rules->end());
  }
  return specs;
}

}  // namespace

Result<std::vector<copy::RuleSpec>> parse_rule_list(std::string_view value, copy::RuleSpec::Kind kind,
                                                    std::string_view variable) {
  std::vector<copy::RuleSpec> specs;
  // One rule per line; a value on one line may separate its rules with ';' instead.
  const char separator = value.find('\n') != std::string_view::npos ? '\n' : ';';
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(separator, start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view rule = value.substr(start, end - start);
    start = end + 1;
    while (!rule.empty() && (rule.front() == ' ' || rule.front() == '\t' || rule.front() == '\r'))
      rule.remove_prefix(1);
    while (!rule.empty() && (rule.back() == ' ' || rule.back() == '\t' || rule.back() == '\r'))
      rule.remove_suffix(1);
    if (rule.empty()) continue;
    const std::size_t space = rule.find(' ');
    if (space == std::string_view::npos) {
      return make_error(ExitCode::kUsage,
                        std::string(variable) + ": rule \"" + std::string(rule) + "\" has no " +
                            (kind == copy::RuleSpec::Kind::kPrefix ? "new prefix" : "replacement") +
                            ": write each rule as FROM TO, separated by one space");
    }
    std::string_view to = rule.substr(space + 1);
    while (!to.empty() && to.front() == ' ')
      to.remove_prefix(1);
    specs.push_back(copy::RuleSpec{kind, std::string(rule.substr(0, space)), std::string(to)});
  }
  return specs;
}

const char* command_name(Command c) noexcept {
  switch (c) {
    case Command::kCopy: return "copy";
    case Command::kPlan: return "plan";
    case Command::kVerify: return "verify";
    case Command::kCleanup: return "cleanup";
    case Command::kStatus: return "status";
    case Command::kUnlock: return "unlock";
  }
  return "copy";
}

Result<uint64_t> parse_size(std::string_view text) {
  std::string_view t = text;
  while (!t.empty() && t.back() == ' ')
    t.remove_suffix(1);
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec != std::errc() || p == t.data()) {
    return make_error(ExitCode::kUsage,
                      "'" + std::string(text) + "' is not a size: use e.g. 16MB, 512KiB or 1048576");
  }
  std::string unit(p, t.data() + t.size());
  for (auto& ch : unit)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  uint64_t mul = 1;
  if (unit.empty() || unit == "b") {
    mul = 1;
  } else if (unit == "k" || unit == "kb") {
    mul = 1000;
  } else if (unit == "kib") {
    mul = 1024;
  } else if (unit == "m" || unit == "mb") {
    mul = 1000 * 1000;
  } else if (unit == "mib") {
    mul = 1024 * 1024;
  } else if (unit == "g" || unit == "gb") {
    mul = 1000ull * 1000 * 1000;
  } else if (unit == "gib") {
    mul = 1024ull * 1024 * 1024;
  } else {
    return make_error(ExitCode::kUsage, "'" + std::string(text) + "': unknown unit '" + unit +
                                            "' (use KB, MB, GB, KiB, MiB, GiB)");
  }
  return value * mul;
}

std::variant<Config, int> parse_command_line(int argc, char** argv) {
  // Each command binds its own copy of the flags: options of commands that were not chosen must not touch the
  // values of the one that was (their environment variables are read too).
  struct Bound {
    Config cfg;
    Flags f;
  };
  std::array<Bound, 6> bound{};
  auto& main_cmd = bound[0];

  CLI::App app{
      "redis-migrate: copy every key from one Redis server to another, exactly, with TTLs.\n"
      "Uses SCAN, PTTL, DUMP and RESTORE, and on the rewrite path each type's own read and write commands\n"
      "(GETRANGE, HSCAN, XRANGE, RENAME...); never KEYS, MIGRATE, CONFIG, DEBUG or SYNC, so it works on\n"
      "managed services (ElastiCache, Memorystore, Azure, Upstash, Redis Cloud, Valkey).",
      "redis-migrate"};
  app.set_version_flag("--version", std::string("redis-migrate ") + RM_VERSION);
  app.footer(std::string("\n") + kUrlHelp + "\n" + kEnvHelp + "\n" + kExitCodes);
  app.get_formatter()->column_width(42);
  app.require_subcommand(0, 1);

  // The default command: copy.
  add_run_options(app, main_cmd.f, main_cmd.cfg, true);
  add_conflict_options(app, main_cmd.f, main_cmd.cfg);
  app.add_flag(
         "--dry-run", main_cmd.f.dry_run,
         "write nothing anywhere; report how many keys and bytes would be copied, how many already exist "
         "on the destination, and example keys (the same as the plan command)")
      ->envname("DRY_RUN")
      ->group("Copy");
  app.add_flag("--cleanup", main_cmd.f.cleanup,
               "delete each source key after its copy succeeded, only if it did not change meanwhile "
               "(compare-and-delete); skipped keys are never deleted")
      ->envname("CLEAN_UP")
      ->group("Copy");
  app.add_flag(
         "--yes,--force", main_cmd.cfg.yes,
         "do not ask for confirmation before a run that can overwrite, merge or delete (a run without a "
         "terminal never asks)")
      ->envname("YES")
      ->group("Copy");
  add_state_options(app, main_cmd.cfg, true);

  auto& plan_cmd = bound[1];
  CLI::App* plan =
      app.add_subcommand("plan", "show what a copy would do, writing nothing (the same as --dry-run)");
  add_run_options(*plan, plan_cmd.f, plan_cmd.cfg, true);
  add_conflict_options(*plan, plan_cmd.f, plan_cmd.cfg);
  add_state_options(*plan, plan_cmd.cfg, false);

  auto& verify_cmd = bound[2];
  CLI::App* verify = app.add_subcommand(
      "verify",
      "check that every selected source key exists on the destination (after renaming) with the same "
      "type, value and TTL; exit 0 only when everything checked is equal");
  add_run_options(*verify, verify_cmd.f, verify_cmd.cfg, false);
  add_state_options(*verify, verify_cmd.cfg, false);
  verify
      ->add_option("--ttl-tolerance", verify_cmd.f.ttl_tolerance_s,
                   "seconds two TTLs may differ and still be equal")
      ->envname("TTL_TOLERANCE")
      ->capture_default_str()
      ->group("Verify");
  verify
      ->add_option("--sample", verify_cmd.cfg.verify.sample,
                   "check a random sample of N keys instead of every key")
      ->envname("SAMPLE")
      ->group("Verify");
  verify
      ->add_option("--max-differences", verify_cmd.cfg.verify.max_differences,
                   "differences listed in the report")
      ->envname("MAX_DIFFERENCES")
      ->capture_default_str()
      ->group("Verify");

  auto& cleanup_cmd = bound[3];
  CLI::App* cleanup = app.add_subcommand(
      "cleanup",
      "delete from the source the selected keys whose copy on the destination verifies equal "
      "(compare-and-delete: a key written meanwhile survives)");
  add_run_options(*cleanup, cleanup_cmd.f, cleanup_cmd.cfg, false);
  add_state_options(*cleanup, cleanup_cmd.cfg, true);
  cleanup->add_flag("--dry-run", cleanup_cmd.f.dry_run, "list what would be deleted, delete nothing")
      ->envname("DRY_RUN")
      ->group("Cleanup");
  cleanup
      ->add_option("--ttl-tolerance", cleanup_cmd.f.ttl_tolerance_s,
                   "seconds two TTLs may differ and still be equal")
      ->envname("TTL_TOLERANCE")
      ->capture_default_str()
      ->group("Cleanup");
  cleanup
      ->add_flag(
          "--yes,--force", cleanup_cmd.cfg.yes,
          "do not ask for confirmation (on a terminal, cleanup first shows what it would delete and asks)")
      ->envname("YES")
      ->group("Cleanup");

  auto& status_cmd = bound[4];
  CLI::App* status =
      app.add_subcommand("status", "print the runs recorded on the destination and their counters");
  add_urls(*status, status_cmd.f, false);
  add_side_options(*status, "destination", status_cmd.f.dst);
  add_state_options(*status, status_cmd.cfg, false);
  add_output_options(*status, status_cmd.f, status_cmd.cfg);

  auto& unlock_cmd = bound[5];
  CLI::App* unlock =
      app.add_subcommand("unlock", "clear the destination's lock (asks for confirmation on a terminal)");
  add_urls(*unlock, unlock_cmd.f, false);
  add_side_options(*unlock, "destination", unlock_cmd.f.dst);
  add_state_options(*unlock, unlock_cmd.cfg, false);
  add_output_options(*unlock, unlock_cmd.f, unlock_cmd.cfg);
  unlock->add_flag("--yes,--force", unlock_cmd.cfg.yes, "do not ask for confirmation")->envname("YES");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::fputs((app.get_subcommands().empty() ? app.help() : app.get_subcommands().front()->help()).c_str(),
               stdout);
    return 0;
  } catch (const CLI::CallForAllHelp& e) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "redis-migrate: %s (see redis-migrate --help)\n", redact_urls(e.what()).c_str());
    return 2;
  }

  const CLI::App* used = &app;
  std::size_t which = 0;
  Command command = Command::kCopy;
  const std::array<std::pair<CLI::App*, Command>, 5> subs = {{{plan, Command::kPlan},
                                                              {verify, Command::kVerify},
                                                              {cleanup, Command::kCleanup},
                                                              {status, Command::kStatus},
                                                              {unlock, Command::kUnlock}}};
  for (std::size_t i = 0; i < subs.size(); ++i) {
    if (subs[i].first->parsed()) {
      used = subs[i].first;
      which = i + 1;
      command = subs[i].second;
    }
  }
  Config cfg = std::move(bound[which].cfg);
  Flags& f = bound[which].f;
  copy::CopyOptions& o = cfg.copy.options;
  cfg.command = command;

  bool debug = false;
  if (int rc = env_flag("DEBUG", debug); rc != 0) return rc;
  if (debug && used->get_option("--log-level")->count() == 0) f.log_level = "debug";
  cfg.log_level = spdlog::level::from_str(f.log_level);
  cfg.log_format = f.log_format == "json" ? report::LogFormat::kJson : report::LogFormat::kText;

  auto fail = [](const Error& e) {
    std::fprintf(stderr, "redis-migrate: %s\n", e.message.c_str());
    return to_int(e.code);
  };
  const bool needs_source = cfg.command != Command::kStatus && cfg.command != Command::kUnlock;
  if ((needs_source && f.src.url.empty()) || f.dst.url.empty()) {
    std::fprintf(stderr, "%s\n", used->help().c_str());
    std::fprintf(stderr, "redis-migrate: missing %s: pass %s or set %s\n",
                 !needs_source                            ? "the destination URL"
                 : f.src.url.empty() && f.dst.url.empty() ? "the source and destination URLs"
                 : f.src.url.empty()                      ? "the source URL"
                                                          : "the destination URL",
                 needs_source ? "SOURCE_URL DESTINATION_URL" : "DESTINATION_URL",
                 needs_source ? "SOURCE_REDIS_URL and DESTINATION_REDIS_URL" : "DESTINATION_REDIS_URL");
    return 2;
  }

  auto wb = parse_size(f.window_bytes);
  if (!wb) return fail(Error{ExitCode::kUsage, "--window-bytes " + wb.error().message});
  if (*wb < 1024) return fail(Error{ExitCode::kUsage, "--window-bytes must be at least 1KB"});
  o.window.bytes = *wb;
  if (!f.max_bytes_per_sec.empty()) {
    auto mb = parse_size(f.max_bytes_per_sec);
    if (!mb) return fail(Error{ExitCode::kUsage, "--max-bytes-per-sec " + mb.error().message});
    o.rate_limit_bytes = *mb;
  }
  o.rate_limit_keys = f.rate_limit;
  o.mode = f.mode == "dump"      ? copy::CopyMode::kDump
           : f.mode == "rewrite" ? copy::CopyMode::kRewrite
                                 : copy::CopyMode::kAuto;
  auto bkt = parse_size(f.big_key_threshold);
  if (!bkt) return fail(Error{ExitCode::kUsage, "--big-key-threshold " + bkt.error().message});
  o.big_key_threshold = *bkt;
  o.dry_run = f.dry_run || cfg.command == Command::kPlan;
  o.cleanup = f.cleanup;

  // Conflict policy: --replace (REPLACE_DST_KEYS) means replace; it must not contradict --on-conflict.
  const bool explicit_policy =
      used->get_option_no_throw("--on-conflict") != nullptr && used->get_option("--on-conflict")->count() > 0;
  if (f.replace && explicit_policy && f.on_conflict != "replace") {
    return fail(Error{ExitCode::kUsage,
                      "--replace contradicts --on-conflict " + f.on_conflict + ": give one of them"});
  }
  const std::string policy = f.replace ? "replace" : f.on_conflict;
  o.conflict = policy == "replace" ? copy::ConflictPolicy::kReplace
               : policy == "merge" ? copy::ConflictPolicy::kMerge
               : policy == "fail"  ? copy::ConflictPolicy::kFail
                                   : copy::ConflictPolicy::kSkip;
  o.merge_prefer_source = f.merge_prefer == "source";

  // Selection.
  copy::Selection& sel = o.selection;
  sel.match = f.match;
  sel.exclude = f.exclude;
  sel.types = f.types;
  sel.own_prefix = cfg.state.prefix;
  auto specs = rule_specs(*used, f);
  bool env_rules = false;
  if (specs.empty() && used->get_option_no_throw("--rename") != nullptr) {
    auto from_env = env_rule_specs();
    if (!from_env) return fail(from_env.error());
    specs = std::move(*from_env);
    env_rules = !specs.empty();
  }
  if (!specs.empty()) {
    auto rules = copy::RenameRules::build(specs);
    if (!rules && env_rules) {
      return fail(
          Error{rules.error().code,
                rules.error().message + " (the rule comes from RENAME_PREFIX or RENAME in the environment)"});
    }
    if (!rules) return fail(rules.error());
    sel.rename = std::make_shared<const copy::RenameRules>(std::move(*rules));
  }
  cfg.copy.all_dbs = f.all_dbs;

  auto mode = [](const std::string& m) {
    return m == "on"    ? copy::ClusterMode::kOn
           : m == "off" ? copy::ClusterMode::kOff
                        : copy::ClusterMode::kAuto;
  };
  cfg.copy.source_cluster = mode(f.source_cluster);
  cfg.copy.destination_cluster = mode(f.destination_cluster);
  cfg.copy.read_from_replicas = f.read_from == "replicas";

  auto progress = seconds_to_ms(f.progress_s, "--progress-interval");
  if (!progress) return fail(progress.error());
  cfg.copy.progress_interval_ms = *progress;
  auto connect_ms = seconds_to_ms(f.connect_timeout_s, "--connect-timeout");
  if (!connect_ms) return fail(connect_ms.error());
  auto timeout_ms = seconds_to_ms(f.timeout_s, "--timeout");
  if (!timeout_ms) return fail(timeout_ms.error());
  auto retry_ms = seconds_to_ms(f.retry_timeout_s, "--retry-timeout");
  if (!retry_ms) return fail(retry_ms.error());
  o.retry_timeout_ms = *retry_ms;
  auto tolerance_ms = seconds_to_ms(f.ttl_tolerance_s, "--ttl-tolerance");
  if (!tolerance_ms) return fail(tolerance_ms.error());
  cfg.verify.ttl_tolerance_ms = *tolerance_ms;

  if (needs_source) {
    auto s = build_side("source", f.src, cfg.copy.source_url);
    if (!s) return fail(s.error());
    cfg.copy.source = std::move(*s);
  }
  auto d = build_side("destination", f.dst, cfg.copy.destination_url);
  if (!d) return fail(d.error());
  cfg.copy.destination = std::move(*d);
  for (auto* side : {&cfg.copy.source, &cfg.copy.destination}) {
    side->connect_timeout_ms = std::max<uint32_t>(*connect_ms, 100);
    side->reply_timeout_ms = std::max<uint32_t>(*timeout_ms, 100);
  }
  return cfg;
}

}  // namespace rmig::app
