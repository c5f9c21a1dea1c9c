#include "app/cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "app/url.hpp"
#include "net/tls.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"
#include "util/file_check.hpp"

namespace rmig::app {

namespace {

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0    everything selected was copied, or legitimately skipped, expired or vanished\n"
    "  1    some keys failed (see the errors in the summary / report); verify: differences found; cleanup:\n"
    "       keys that differ or changed were kept\n"
    "  2    usage or configuration error (bad URL, unknown option, bad value), or a run that would write\n"
    "       onto the data it reads (one database, one cluster, a primary and its replica), or a deleting "
    "run\n"
    "       that cannot tell (see --assume-distinct)\n"
    "  3    cannot connect or authenticate (unreachable host, TLS, wrong password, missing ACL permission,\n"
    "       a command refused or renamed)\n"
    "  4    another run holds the destination's lock\n"
    "  5    the destination refuses writes (read-only replica, out of memory, cannot persist), or evicts\n"
    "       keys: an evicting maxmemory-policy refuses --cleanup and cleanup, and an eviction during a run\n"
    "       stops every deletion\n"
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
    "  MATCH, EXCLUDE, TYPE, RENAME_PREFIX, RENAME: one value per line, or separated by ';' (a ';' inside\n"
    "  a glob's [...] or escaped as \\; is part of the value).\n"
    "  Command-line values win over the environment.\n";

constexpr const char* kUrlHelp =
    "URLs:\n"
    "  redis://[[user]:password@]host[:port][/db]   (defaults: port 6379, db 0; IPv6 as [::1])\n"
    "  rediss://...                                 the same over TLS\n"
    "  unix:///path/to/redis.sock[?db=N]\n"
    "  Percent-encode @ / # ? in passwords (as %40 %2F %23 %3F). Passwords are never printed.\n"
    "Options may come before, between or after the URLs and the command; -- ends the options. Each takes\n"
    "its own values per occurrence (--match G, --rename-prefix OLD NEW): repeat it for more.\n";

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
                     " password from this file (e.g. a mounted Kubernetes secret; a regular file of at most "
                     "64 KB, one trailing newline dropped); overrides the URL's password")
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

// A password file: a regular file of at most 64 KB (never a FIFO or a device read without end), minus one
// trailing newline ("\n" or "\r\n", as `echo` and editors leave it).
constexpr std::size_t kMaxSecretFile = 64 * 1024;

Result<std::string> read_secret_file(const std::string& path, const std::string& option) {
  const std::string what = option + " " + path;
  auto s = read_small_file(path, kMaxSecretFile, what);
  if (!s) {
    return make_error(
        ExitCode::kUsage,
        s.error().message + ": give a regular file that holds only the password (at most 64 KB)");
  }
  if (!s->empty() && s->back() == '\n') {
    s->pop_back();
    if (!s->empty() && s->back() == '\r') s->pop_back();
  }
  if (s->empty()) return make_error(ExitCode::kUsage, what + ": the file is empty");
  return std::move(*s);
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
  bool assume_distinct = false, allow_evicting_destination = false;
  std::string on_conflict = "skip", merge_prefer = "destination";
  // selection
  std::vector<std::string> match, exclude, types;
  std::vector<std::pair<std::string, std::string>> rename_prefix, rename_regex;
  bool all_dbs = false;
  // tuning
  std::string window_bytes = "16MB", max_bytes_per_sec;
  // paths
  std::string mode = "auto", big_key_threshold = "64MB";
  bool drop_field_ttls = false, keep_idle = false;
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
  // Each repeatable option takes exactly its own values per occurrence (allow_extra_args(false)), so the
  // URLs after it stay URLs. The environment's lists are split by split_env_list after parsing.
  app.add_option(
         "--match", f.match,
         "copy only keys matching this glob (Redis SCAN MATCH syntax; one pattern per --match, repeatable: "
         "any may match; a single pattern is applied by the server, so other keys are never dumped) "
         "[env: patterns separated by ';' or newlines]")
      ->envname("MATCH")
      ->allow_extra_args(false)
      ->group(g);
  app.add_option("--exclude", f.exclude,
                 "leave out keys matching this glob (one per --exclude, repeatable) [env: as MATCH]")
      ->envname("EXCLUDE")
      ->allow_extra_args(false)
      ->group(g);
  app.add_option("--type", f.types,
                 "copy only keys of this type: string, list, set, zset, hash, stream (one per --type, "
                 "repeatable) [env: as MATCH]")
      ->envname("TYPE")
      ->allow_extra_args(false)
      ->group(g);
  app.add_option(
         "--rename-prefix", f.rename_prefix,
         "OLD NEW: a key starting with OLD lands as NEW + the rest (repeatable; the first matching rule "
         "wins; keys no rule matches keep their name; in place, rules that send a selected key onto "
         "another selected key's old name are refused) [env: RENAME_PREFIX, rules separated by ';' or "
         "newlines, OLD and NEW by a space]")
      ->allow_extra_args(false)
      ->group(g);
  app.add_option(
         "--rename", f.rename_regex,
         "REGEX REPLACEMENT: a key the RE2 regex matches entirely lands under REPLACEMENT, with \\\\1-style "
         "captures (repeatable, in order with --rename-prefix) [env: RENAME, as RENAME_PREFIX; its rules "
         "come after RENAME_PREFIX's]")
      ->allow_extra_args(false)
      ->group(g);
  if (!all_dbs) return;
  app.add_flag("--all-dbs", f.all_dbs, "copy every non-empty logical DB N to DB N (standalone servers)")
      ->envname("ALL_DBS")
      ->group(g);
}

void add_tuning_options(CLI::App& app, Flags& f, engine::CopyOptions& o) {
  const std::string g = "Tuning";
  app.add_option("--window-keys", o.window.keys, "keys in flight at most (between DUMP and RESTORE reply)")
      ->envname("WINDOW_KEYS")
      ->capture_default_str()
      ->group(g);
  app.add_option("--window-bytes", f.window_bytes,
                 "DUMP payload and rewrite-path chunk bytes held at most (e.g. 16MB)")
      ->envname("WINDOW_BYTES")
      ->capture_default_str()
      ->group(g);
  app.add_option("--scan-count", o.window.scan_count, "COUNT hint given to SCAN")
      ->envname("SCAN_COUNT")
      ->capture_default_str()
      ->group(g);
  app.add_option("--rate-limit", f.rate_limit,
                 "read at most this many keys per second from the source (spares a production primary; 0: no "
                 "limit)")
      ->envname("RATE_LIMIT")
      ->group(g);
  app.add_option("--max-bytes-per-sec", f.max_bytes_per_sec,
                 "read at most this many DUMP bytes per second from the source (e.g. 20MB; 0: no limit)")
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
                 "TRYAGAIN) retried, before giving up (0: no retries)")
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
      ->check(CLI::IsMember(names_of(engine::kCopyModeNames)))
      ->capture_default_str()
      ->group(g);
  app.add_option(
         "--big-key-threshold", f.big_key_threshold,
         "auto mode: a key larger than this (MEMORY USAGE, or the type's length where MEMORY is refused) "
         "is copied in chunks by the rewrite path, so memory stays bounded and no single command blocks a "
         "server for long (0: no size check; keys are not sized on a source node that proves none is larger: "
         "its whole dataset, or on Redis 8 INFO keysizes showing only strings, under the threshold)")
      ->envname("BIG_KEY_THRESHOLD")
      ->capture_default_str()
      ->group(g);
  app.add_flag(
         "--drop-field-ttls", f.drop_field_ttls,
         "a hash whose fields have TTLs, copied onto a destination without hash field expiration "
         "(Redis <= 7.2, Valkey <= 8.1), gets its fields without their TTLs (counted field_ttls_dropped) "
         "instead of failing")
      ->envname("DROP_FIELD_TTLS")
      ->group(g);
  app.add_flag("--keep-idle", f.keep_idle,
               "carry each key's LRU idle time or LFU frequency (OBJECT IDLETIME / OBJECT FREQ, by the "
               "source's maxmemory-policy) so a cache's eviction order survives the move; one more read per "
               "key")
      ->envname("KEEP_IDLE")
      ->group(g);
}

void add_cluster_options(CLI::App& app, Flags& f) {
  const std::string g = "Cluster";
  app.add_option(
         "--source-cluster", f.source_cluster,
         "on, off or auto: treat the source as a Redis Cluster (auto: ask it with INFO cluster); any node "
         "of the cluster is enough as SOURCE_URL")
      ->envname("SOURCE_CLUSTER")
      ->check(CLI::IsMember(names_of(copy::kClusterModeNames)))
      ->capture_default_str()
      ->group(g);
  app.add_option(
         "--destination-cluster", f.destination_cluster,
         "on, off or auto: treat the destination as a Redis Cluster (each RESTORE goes to the node owning "
         "the key's slot)")
      ->envname("DESTINATION_CLUSTER")
      ->check(CLI::IsMember(names_of(copy::kClusterModeNames)))
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
      ->check(CLI::IsMember(names_of(report::kLogFormatNames)))
      ->capture_default_str()
      ->group(g);
}

void add_state_options(CLI::App& app, Config& cfg, bool writes) {
  const std::string g = "Lock and state";
  app.add_option(
         "--state-prefix", cfg.state.prefix,
         "prefix of the tool's own keys on the destination (lock and run state); they are never copied "
         "or verified (not empty, and out of reach of every --match pattern)")
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
      ->check(CLI::IsMember(names_of(engine::kConflictPolicyNames)))
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

// The overrides of the checks before a run deletes source keys (--cleanup, cleanup).
void add_deletion_options(CLI::App& app, Flags& f, const std::string& group) {
  app.add_flag("--assume-distinct", f.assume_distinct,
               "delete even when it cannot be proven that source and destination are different data (no "
               "INFO, no probe key allowed); without it such a run refuses (exit 2)")
      ->envname("ASSUME_DISTINCT")
      ->group(group);
  app.add_flag("--allow-evicting-destination", f.allow_evicting_destination,
               "delete even though the destination's maxmemory-policy evicts keys (default: refuse, exit 5); "
               "an eviction seen during the run still stops every deletion (exit 5)")
      ->envname("ALLOW_EVICTING_DESTINATION")
      ->group(group);
}

// 1000 -> "1KB", 64e9 -> "64GB", 1500 -> "1500".
std::string size_text(double bytes) {
  const auto b = static_cast<uint64_t>(bytes);
  for (auto [unit, name] : {std::pair{1'000'000'000'000ull, "TB"}, std::pair{1'000'000'000ull, "GB"},
                            std::pair{1'000'000ull, "MB"}, std::pair{1'000ull, "KB"}}) {
    if (b >= unit && b % unit == 0) return std::to_string(b / unit) + name;
  }
  return std::to_string(b);
}

std::string number_text(const NumericOption& o, double v) {
  if (o.kind == NumericOption::Kind::kSize) return size_text(v);
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.15g", v);
  return buf.data();
}

// "0 (no limit) or a whole number from 1 to 100000000"
std::string range_text(const NumericOption& o) {
  std::string r = o.kind == NumericOption::Kind::kCount     ? "a whole number"
                  : o.kind == NumericOption::Kind::kSeconds ? "a number of seconds"
                                                            : "a size";
  r += " from " + number_text(o, o.min) + " to " + number_text(o, o.max);
  if (o.kind == NumericOption::Kind::kSize) r += " (e.g. 16MB, 512KiB, or bytes)";
  if (o.zero != nullptr) r = std::string("0 (") + o.zero + ") or " + r;
  return r;
}

// The validator's short form for --help: "0|1-100000000".
std::string range_brief(const NumericOption& o) {
  return std::string(o.zero != nullptr ? "0|" : "") + number_text(o, o.min) + "-" + number_text(o, o.max);
}

// Every numeric option of `app` and its subcommands gets the check of its numeric_options() entry.
void add_numeric_checks(CLI::App& app) {
  for (const NumericOption& n : numeric_options()) {
    CLI::Option* opt = app.get_option_no_throw(n.name);
    if (opt == nullptr) continue;
    const NumericOption* rule = &n;
    opt->check(
        CLI::Validator([rule](std::string& value) { return check_numeric(*rule, value); }, range_brief(n)));
    if (n.kind == NumericOption::Kind::kSize) opt->type_name("SIZE");
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    add_numeric_checks(*sub);
}

// Puts the subcommand's name first wherever it was given ("--match 'a:*' verify SRC DST" is parsed as
// "verify --match 'a:*' SRC DST"), so that the options before it belong to it too. Option values are stepped
// over by each option's own arity, so "--state-prefix plan" stays a value; nothing after "--" moves.
std::vector<std::string> subcommand_first(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  auto find = [&](const std::string& name) -> const CLI::Option* {
    if (const CLI::Option* o = app.get_option_no_throw(name)) return o;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (const CLI::Option* o = sub->get_option_no_throw(name)) return o;
    }
    return nullptr;
  };
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (a.size() > 1 && a[0] == '-') {
      if (a.find('=') != std::string::npos) continue;
      const CLI::Option* o = find(a);
      if (o != nullptr && o->get_expected_max() > 0) i += static_cast<std::size_t>(o->get_type_size_max());
      continue;
    }
    const bool is_sub = !app.get_subcommands([&](const CLI::App* s) { return s->get_name() == a; }).empty();
    if (is_sub) {
      if (i > 1)
        std::rotate(args.begin() + 1, args.begin() + static_cast<std::ptrdiff_t>(i),
                    args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      break;
    }
  }
  return args;
}

// " (from the environment variable RATE_LIMIT)" when the option a parse error starts with ("--rate-limit:
// ...") got its value from its environment variable rather than from the command line; empty otherwise.
std::string environment_origin(const CLI::App& app, const std::vector<std::string>& args,
                               const std::string& what) {
  if (what.rfind("--", 0) != 0) return {};
  const std::string name = what.substr(0, what.find_first_of(": "));
  for (const std::string& a : args) {
    if (a == name || a.rfind(name + "=", 0) == 0) return {};
  }
  std::vector<const CLI::App*> apps = {&app};
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    apps.push_back(sub);
  for (const CLI::App* a : apps) {
    const CLI::Option* o = a->get_option_no_throw(name);
    if (o != nullptr && !o->get_envname().empty() && std::getenv(o->get_envname().c_str()) != nullptr) {
      return " (from the environment variable " + o->get_envname() + ")";
    }
  }
  return {};
}

// The values of an option that look like URLs: a URL swallowed by an option is named when URLs are missing.
std::vector<std::string> url_like_values(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional()) continue;
    for (const std::string& v : o->results()) {
      if (v.find("://") != std::string::npos) {
        out.push_back(o->get_name() + " took " + redact_raw_url(v) + " as a value (it takes " +
                      std::to_string(o->get_type_size_max()) + " per occurrence)");
      }
    }
  }
  return out;
}

// The rename rules in command-line order (first match wins across --rename-prefix and --rename).
std::vector<select::RuleSpec> rule_specs(const CLI::App& app, const Flags& f) {
  std::vector<select::RuleSpec> specs;
  std::size_t prefix = 0, regex = 0, seen_prefix = 0, seen_regex = 0;
  for (const CLI::Option* o : app.parse_order()) {
    // Each rule is two values, each counted once in the parse order.
    if (o->get_name() == "--rename-prefix" && (++seen_prefix % 2) == 0 && prefix < f.rename_prefix.size()) {
      const auto& [from, to] = f.rename_prefix[prefix++];
      specs.push_back(select::RuleSpec{select::RuleSpec::Kind::kPrefix, from, to});
    } else if (o->get_name() == "--rename" && (++seen_regex % 2) == 0 && regex < f.rename_regex.size()) {
      const auto& [from, to] = f.rename_regex[regex++];
      specs.push_back(select::RuleSpec{select::RuleSpec::Kind::kRegex, from, to});
    }
  }
  return specs;
}

// The rules of RENAME_PREFIX and RENAME (used when the command line has no rename rule): RENAME_PREFIX's
// first, each in its own order.
Result<std::vector<select::RuleSpec>> env_rule_specs() {
  std::vector<select::RuleSpec> specs;
  for (auto [name, kind] : {std::pair{"RENAME_PREFIX", select::RuleSpec::Kind::kPrefix},
                            std::pair{"RENAME", select::RuleSpec::Kind::kRegex}}) {
    const char* v = std::getenv(name);
    if (v == nullptr) continue;
    auto rules = parse_rule_list(v, kind, name);
    if (!rules) return rules.error();
    specs.insert(specs.end(), rules->begin(), rules->end());
  }
  return specs;
}

}  // namespace

Result<std::vector<select::RuleSpec>> parse_rule_list(std::string_view value, select::RuleSpec::Kind kind,
                                                      std::string_view variable) {
  std::vector<select::RuleSpec> specs;
  for (const std::string& item : split_env_list(value)) {
    const std::string_view rule = item;
    const std::size_t space = rule.find(' ');
    if (space == std::string_view::npos) {
      return make_error(ExitCode::kUsage,
                        std::string(variable) + ": rule \"" + std::string(rule) + "\" has no " +
                            (kind == select::RuleSpec::Kind::kPrefix ? "new prefix" : "replacement") +
                            ": write each rule as FROM TO, separated by one space");
    }
    std::string_view to = rule.substr(space + 1);
    while (!to.empty() && to.front() == ' ')
      to.remove_prefix(1);
    specs.push_back(select::RuleSpec{kind, std::string(rule.substr(0, space)), std::string(to)});
  }
  return specs;
}

const char* command_name(Command c) noexcept { return name_of(kCommandNames, c); }

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
  } else if (unit == "t" || unit == "tb") {
    mul = 1000ull * 1000 * 1000 * 1000;
  } else if (unit == "tib") {
    mul = 1024ull * 1024 * 1024 * 1024;
  } else {
    return make_error(ExitCode::kUsage, "'" + std::string(text) + "': unknown unit '" + unit +
                                            "' (use KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
  }
  if (value > std::numeric_limits<uint64_t>::max() / mul) {
    return make_error(ExitCode::kUsage, "'" + std::string(text) + "' is too large a size");
  }
  return value * mul;
}

std::vector<std::string> split_env_list(std::string_view value) {
  const char separator = value.find('\n') != std::string_view::npos ? '\n' : ';';
  // The index of the ']' that closes the set opened at `open`, as the server's glob reads it (a ']' right
  // after '[' or "[^" closes it; '\' escapes), or npos when the set is never closed.
  auto set_end = [&](std::size_t open) {
    std::size_t j = open + 1;
    if (j < value.size() && value[j] == '^') ++j;
    while (j < value.size()) {
      if (value[j] == '\\' && j + 1 < value.size()) {
        j += 2;
      } else if (value[j] == ']') {
        return j;
      } else {
        ++j;
      }
    }
    return std::string_view::npos;
  };
  std::vector<std::string> items;
  std::string item;
  auto flush = [&] {
    const std::size_t first = item.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      const std::size_t last = item.find_last_not_of(" \t\r");
      items.push_back(item.substr(first, last - first + 1));
    }
    item.clear();
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' && i + 1 < value.size()) {
      item += value.substr(i, 2);
      ++i;
    } else if (c == '[' && set_end(i) != std::string_view::npos) {
      const std::size_t close = set_end(i);
      item += value.substr(i, close - i + 1);
      i = close;
    } else if (c == separator) {
      flush();
    } else {
      item += c;
    }
  }
  flush();
  return items;
}

const std::vector<NumericOption>& numeric_options() {
  using K = NumericOption::Kind;
  static const std::vector<NumericOption> table = {
      {"--window-keys", K::kCount, 1, 1e6, nullptr},
      {"--window-bytes", K::kSize, 1e3, 64e9, nullptr},
      {"--scan-count", K::kCount, 1, 1e5, nullptr},
      {"--rate-limit", K::kCount, 1, 1e8, "no limit"},
      {"--max-bytes-per-sec", K::kSize, 1e3, 1e12, "no limit"},
      {"--connect-timeout", K::kSeconds, 0.1, 86400, nullptr},
      {"--timeout", K::kSeconds, 0.1, 86400, nullptr},
      {"--retry-timeout", K::kSeconds, 0.1, 86400, "no retries"},
      {"--progress-interval", K::kSeconds, 0.01, 86400, "no progress lines"},
      {"--examples", K::kCount, 0, 1e4, nullptr},
      {"--big-key-threshold", K::kSize, 1e3, 1e12, "no size check"},
      {"--lock-ttl", K::kSeconds, 1, 3600, nullptr},
      {"--ttl-tolerance", K::kSeconds, 0, 604800, nullptr},
      {"--sample", K::kCount, 1, 1e8, "every key"},
      {"--max-differences", K::kCount, 0, 1e6, nullptr},
  };
  return table;
}

std::string check_numeric(const NumericOption& o, std::string_view text) {
  std::string_view t = text;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
    t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
    t.remove_suffix(1);
  const std::string quoted = "'" + std::string(text) + "'";
  auto bad = [&](const std::string& what) { return quoted + " " + what + ": give " + range_text(o); };
  if (!t.empty() && t.front() == '-') return bad("is negative");
  double value = 0;
  switch (o.kind) {
    case NumericOption::Kind::kCount: {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec == std::errc::result_out_of_range) return bad("is too large");
      if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return bad("is not a whole number");
      value = static_cast<double>(v);
      break;
    }
    case NumericOption::Kind::kSeconds: {
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
      if (ec == std::errc::result_out_of_range) return bad("is too large");
      if (ec != std::errc() || p != t.data() + t.size() || t.empty() || !std::isfinite(value)) {
        return bad("is not a number of seconds");
      }
      break;
    }
    case NumericOption::Kind::kSize: {
      auto v = parse_size(t);
      if (!v) {
        const std::string& why = v.error().message;
        if (why.find("too large") != std::string::npos) return bad("is too large");
        if (why.find("unknown unit") != std::string::npos) return why + ": give " + range_text(o);
        return bad("is not a size");
      }
      value = static_cast<double>(*v);
      break;
    }
  }
  if (value == 0 && o.zero != nullptr) return {};
  if (value < o.min) return bad(value == 0 ? "is not allowed" : "is too small");
  if (value > o.max) return bad("is too large");
  return {};
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
               "(compare-and-delete: the same value and the same expiry, within 1 s; a key changed is kept "
               "and counted kept); skipped keys are never deleted")
      ->envname("CLEAN_UP")
      ->group("Copy");
  add_deletion_options(app, main_cmd.f, "Copy");
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
                   "check a random sample of N keys instead of every key (0: every key)")
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
      "(compare-and-delete: a key written meanwhile, or whose expiry is not its copy's within 1 s, "
      "survives)");
  add_run_options(*cleanup, cleanup_cmd.f, cleanup_cmd.cfg, false);
  add_state_options(*cleanup, cleanup_cmd.cfg, true);
  cleanup->add_flag("--dry-run", cleanup_cmd.f.dry_run, "list what would be deleted, delete nothing")
      ->envname("DRY_RUN")
      ->group("Cleanup");
  add_deletion_options(*cleanup, cleanup_cmd.f, "Cleanup");
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

  add_numeric_checks(app);

  std::vector<std::string> args = subcommand_first(app, argc, argv);
  std::vector<char*> arg_ptrs;
  arg_ptrs.reserve(args.size());
  for (std::string& a : args)
    arg_ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
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
    std::fprintf(stderr, "redis-migrate: %s%s (see redis-migrate --help)\n", redact_urls(e.what()).c_str(),
                 environment_origin(app, args, e.what()).c_str());
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
  engine::CopyOptions& o = cfg.copy.options;
  cfg.command = command;

  bool debug = false;
  if (int rc = env_flag("DEBUG", debug); rc != 0) return rc;
  if (debug && used->get_option("--log-level")->count() == 0) f.log_level = "debug";
  cfg.log_level = spdlog::level::from_str(f.log_level);
  cfg.log_format = value_of(report::kLogFormatNames, f.log_format).value_or(report::LogFormat::kText);

  auto fail = [](const Error& e) {
    std::fprintf(stderr, "redis-migrate: %s\n", e.message.c_str());
    return to_int(e.code);
  };
  // A value CLI11 took from the option's environment variable rather than from the command line.
  auto from_environment = [&](const char* name) {
    const CLI::Option* opt = used->get_option_no_throw(name);
    if (opt == nullptr || opt->count() == 0) return false;
    const auto& order = used->parse_order();
    return std::find(order.begin(), order.end(), opt) == order.end();
  };
  const bool needs_source = cfg.command != Command::kStatus && cfg.command != Command::kUnlock;
  if ((needs_source && f.src.url.empty()) || f.dst.url.empty()) {
    // The usage for a first try without anything; otherwise one line saying what was found.
    if (argc <= 1) std::fprintf(stderr, "%s\n", used->help().c_str());
    std::string found;
    if (!needs_source || (f.src.url.empty() && f.dst.url.empty())) {
      found = "no URL was given";
    } else {
      found = "found only " + redact_raw_url(f.src.url) + ", taken as the source URL" +
              (from_environment("SOURCE_URL") ? " (from SOURCE_REDIS_URL)" : "");
    }
    for (const std::string& swallowed : url_like_values(*used))
      found += "; " + swallowed;
    std::fprintf(stderr, "redis-migrate: missing %s: %s; pass %s or set %s\n",
                 !needs_source                            ? "the destination URL"
                 : f.src.url.empty() && f.dst.url.empty() ? "the source and destination URLs"
                 : f.src.url.empty()                      ? "the source URL"
                                                          : "the destination URL",
                 found.c_str(), needs_source ? "SOURCE_URL DESTINATION_URL" : "DESTINATION_URL",
                 needs_source ? "SOURCE_REDIS_URL and DESTINATION_REDIS_URL" : "DESTINATION_REDIS_URL");
    return 2;
  }

  if (cfg.state.prefix.empty()) {
    return fail(
        Error{ExitCode::kUsage,
              "--state-prefix must not be empty: the tool's own keys on the destination (its lock and "
              "run records) need a prefix of their own, e.g. redis-migrate:"});
  }

  auto wb = parse_size(f.window_bytes);
  if (!wb) return fail(Error{ExitCode::kUsage, "--window-bytes " + wb.error().message});
  o.window.bytes = *wb;
  if (!f.max_bytes_per_sec.empty()) {
    auto mb = parse_size(f.max_bytes_per_sec);
    if (!mb) return fail(Error{ExitCode::kUsage, "--max-bytes-per-sec " + mb.error().message});
    o.rate_limit_bytes = *mb;
  }
  o.rate_limit_keys = f.rate_limit;
  o.mode = value_of(engine::kCopyModeNames, f.mode).value_or(engine::CopyMode::kAuto);
  auto bkt = parse_size(f.big_key_threshold);
  if (!bkt) return fail(Error{ExitCode::kUsage, "--big-key-threshold " + bkt.error().message});
  o.big_key_threshold = *bkt;
  o.drop_field_ttls = f.drop_field_ttls;
  o.keep_idle = f.keep_idle;
  o.dry_run = f.dry_run || cfg.command == Command::kPlan;
  o.cleanup = f.cleanup;
  cfg.copy.assume_distinct = f.assume_distinct;
  cfg.copy.allow_evicting_destination = f.allow_evicting_destination;

  // Conflict policy: --replace (REPLACE_DST_KEYS) means replace; it must not contradict --on-conflict.
  const bool explicit_policy =
      used->get_option_no_throw("--on-conflict") != nullptr && used->get_option("--on-conflict")->count() > 0;
  if (f.replace && explicit_policy && f.on_conflict != "replace") {
    return fail(Error{ExitCode::kUsage,
                      "--replace contradicts --on-conflict " + f.on_conflict + ": give one of them"});
  }
  const std::string policy = f.replace ? "replace" : f.on_conflict;
  o.conflict = value_of(engine::kConflictPolicyNames, policy).value_or(engine::ConflictPolicy::kSkip);
  o.merge_prefer_source = f.merge_prefer == "source";

  // Selection. Lists from the environment (MATCH, EXCLUDE, TYPE) arrive as one value each: split them as the
  // rename variables are.
  for (auto [name, list] :
       {std::pair{"--match", &f.match}, std::pair{"--exclude", &f.exclude}, std::pair{"--type", &f.types}}) {
    if (!from_environment(name)) continue;
    std::vector<std::string> items;
    for (const std::string& v : *list) {
      auto split = split_env_list(v);
      // Commas separated the patterns once: say so when a one-line value reads like such a list.
      std::string as_list = v;
      std::replace(as_list.begin(), as_list.end(), ',', ';');
      if (list != &f.types && split.size() == 1 && split_env_list(as_list).size() > 1) {
        const std::string variable = used->get_option(name)->get_envname();
        std::fprintf(stderr,
                     "redis-migrate: note: %s='%s' is one pattern (a comma is part of a pattern); separate "
                     "several with ';' or newlines\n",
                     variable.c_str(), v.c_str());
      }
      items.insert(items.end(), split.begin(), split.end());
    }
    *list = std::move(items);
  }
  for (const std::string& t : f.types) {
    if (t != "string" && t != "list" && t != "set" && t != "zset" && t != "hash" && t != "stream") {
      return fail(Error{ExitCode::kUsage, (from_environment("--type") ? "TYPE: '" : "--type '") + t +
                                              "' is not a key type: give one of string, list, set, zset, "
                                              "hash, stream (one per --type; in TYPE, separated by ';')"});
    }
  }
  engine::Selection& sel = o.selection;
  sel.match = f.match;
  sel.exclude = f.exclude;
  sel.types = f.types;
  sel.own_prefix = cfg.state.prefix;
  // Keys under the state prefix are never selected: a --match pattern that reaches into it would silently
  // leave keys behind, and the tool's lock and records would live among the copied keys. A pattern without
  // literal text at its start ("*", "*:session") selects across every prefix and is left alone.
  for (const std::string& m : f.match) {
    if (!select::glob_literal_prefix(m).empty() && select::glob_may_match_prefixed(m, cfg.state.prefix)) {
      return fail(
          Error{ExitCode::kUsage,
                "--state-prefix '" + cfg.state.prefix + "' lies inside the selection --match '" + m +
                    "': keys under it would never be copied, and the tool's own keys would sit among "
                    "the copied ones; choose a --state-prefix no --match pattern reaches (the default "
                    "is redis-migrate:)"});
    }
  }
  auto specs = rule_specs(*used, f);
  bool env_rules = false;
  if (specs.empty() && used->get_option_no_throw("--rename") != nullptr) {
    auto from_env = env_rule_specs();
    if (!from_env) return fail(from_env.error());
    specs = std::move(*from_env);
    env_rules = !specs.empty();
  }
  if (!specs.empty()) {
    auto rules = select::RenameRules::build(specs);
    if (!rules && env_rules) {
      return fail(
          Error{rules.error().code,
                rules.error().message + " (the rule comes from RENAME_PREFIX or RENAME in the environment)"});
    }
    if (!rules) return fail(rules.error());
    sel.rename = std::make_shared<const select::RenameRules>(std::move(*rules));
  }
  cfg.copy.all_dbs = f.all_dbs;

  auto mode = [](const std::string& m) {
    return value_of(copy::kClusterModeNames, m).value_or(copy::ClusterMode::kAuto);
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
