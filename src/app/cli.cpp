#include "app/cli.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/url.hpp"
#include "net/tls.hpp"

namespace rmig::app {

namespace {

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0    everything selected was copied, or legitimately skipped, expired or vanished\n"
    "  1    some keys failed (see the errors in the summary / report)\n"
    "  2    usage or configuration error (bad URL, unknown option, bad value)\n"
    "  3    cannot connect or authenticate (unreachable host, TLS, wrong password, missing ACL permission)\n"
    "  4    another run holds the destination's lock\n"
    "  5    the destination refuses writes (read-only replica, out of memory, cannot persist)\n"
    "  130  interrupted by SIGINT, 143 by SIGTERM (keys in flight were finished first)\n";

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

}  // namespace

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
  Config cfg;
  SideFlags src, dst;
  bool dry_run = false, replace = false, cleanup = false;
  std::string log_level = "info", log_format = "text", window_bytes = "16MB";
  double progress_s = 5, connect_timeout_s = 10, timeout_s = 60, retry_timeout_s = 60;
  copy::CopyOptions& o = cfg.copy.options;

  CLI::App app{
      "redis-migrate: copy every key from one Redis server to another, exactly, with TTLs.\n"
      "Uses SCAN, PTTL, DUMP and RESTORE only (no KEYS, MIGRATE, CONFIG, DEBUG or SYNC), so it works on\n"
      "managed services (ElastiCache, Memorystore, Azure, Upstash, Redis Cloud, Valkey).",
      "redis-migrate"};
  app.set_version_flag("--version", std::string("redis-migrate ") + RM_VERSION);
  app.footer(std::string("\n") + kUrlHelp + "\n" + kEnvHelp + "\n" + kExitCodes);
  app.get_formatter()->column_width(42);

  app.add_option("SOURCE_URL", src.url, "where the keys are read (redis://, rediss://, unix://)")
      ->envname("SOURCE_REDIS_URL");
  app.add_option("DESTINATION_URL", dst.url, "where the keys are written")->envname("DESTINATION_REDIS_URL");

  const std::string copy_group = "Copy";
  app.add_flag(
         "--dry-run", dry_run,
         "write nothing anywhere; report how many keys and bytes would be copied, how many already exist "
         "on the destination, and example keys")
      ->envname("DRY_RUN")
      ->group(copy_group);
  app.add_flag("--replace", replace,
               "overwrite keys that already exist on the destination (default: skip them)")
      ->envname("REPLACE_DST_KEYS")
      ->group(copy_group);
  app.add_flag("--cleanup", cleanup,
               "delete each source key after its copy succeeded, only if it did not change meanwhile "
               "(compare-and-delete); skipped keys are never deleted")
      ->envname("CLEAN_UP")
      ->group(copy_group);
  app.add_option("--examples", o.examples, "number of example keys listed by a dry run")
      ->envname("EXAMPLES")
      ->capture_default_str()
      ->group(copy_group);

  const std::string perf_group = "Tuning";
  app.add_option("--window-keys", o.window.keys, "keys in flight at most (between DUMP and RESTORE reply)")
      ->envname("WINDOW_KEYS")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str()
      ->group(perf_group);
  app.add_option("--window-bytes", window_bytes, "DUMP payload bytes held at most (e.g. 16MB)")
      ->envname("WINDOW_BYTES")
      ->capture_default_str()
      ->group(perf_group);
  app.add_option("--scan-count", o.window.scan_count, "COUNT hint given to SCAN")
      ->envname("SCAN_COUNT")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str()
      ->group(perf_group);
  app.add_option("--connect-timeout", connect_timeout_s,
                 "seconds to connect, finish the TLS handshake and authenticate")
      ->envname("CONNECT_TIMEOUT")
      ->capture_default_str()
      ->group(perf_group);
  app.add_option("--timeout", timeout_s, "seconds without any reply before a connection is considered dead")
      ->envname("TIMEOUT")
      ->capture_default_str()
      ->group(perf_group);
  app.add_option(
         "--retry-timeout", retry_timeout_s,
         "seconds a retryable per-key error (LOADING, BUSY, TRYAGAIN) is retried before the key fails")
      ->envname("RETRY_TIMEOUT")
      ->capture_default_str()
      ->group(perf_group);

  add_side_options(app, "source", src);
  add_side_options(app, "destination", dst);

  const std::string out_group = "Output";
  app.add_option("--report-json", cfg.report_json,
                 "write the final report as JSON to FILE; '-' writes it to stdout, which then carries only "
                 "the JSON (everything for people goes to stderr)")
      ->envname("REPORT_JSON")
      ->group(out_group);
  app.add_option("--progress-interval", progress_s, "seconds between progress lines on stderr (0: none)")
      ->envname("PROGRESS_INTERVAL")
      ->capture_default_str()
      ->group(out_group);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (DEBUG=1 means debug)")
      ->envname("LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str()
      ->group(out_group);
  app.add_option("--log-format", log_format, "text, or json for one JSON object per line (log collectors)")
      ->envname("LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str()
      ->group(out_group);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "redis-migrate: %s (see redis-migrate --help)\n", redact_urls(e.what()).c_str());
    return 2;
  }

  bool debug = false;
  if (int rc = env_flag("DEBUG", debug); rc != 0) return rc;
  if (debug && app.get_option("--log-level")->count() == 0) log_level = "debug";
  cfg.log_level = spdlog::level::from_str(log_level);
  cfg.log_format = log_format == "json" ? report::LogFormat::kJson : report::LogFormat::kText;

  auto fail = [](const Error& e) {
    std::fprintf(stderr, "redis-migrate: %s\n", e.message.c_str());
    return to_int(e.code);
  };
  if (src.url.empty() || dst.url.empty()) {
    std::fprintf(stderr, "%s\n", app.help().c_str());
    std::fprintf(stderr,
                 "redis-migrate: missing %s: pass SOURCE_URL DESTINATION_URL or set SOURCE_REDIS_URL "
                 "and DESTINATION_REDIS_URL\n",
                 src.url.empty() && dst.url.empty() ? "the source and destination URLs"
                 : src.url.empty()                  ? "the source URL"
                                                    : "the destination URL");
    return 2;
  }

  auto wb = parse_size(window_bytes);
  if (!wb) return fail(Error{ExitCode::kUsage, "--window-bytes " + wb.error().message});
  if (*wb < 1024) return fail(Error{ExitCode::kUsage, "--window-bytes must be at least 1KB"});
  o.window.bytes = *wb;
  o.dry_run = dry_run;
  o.cleanup = cleanup;
  o.conflict = replace ? copy::ConflictPolicy::kReplace : copy::ConflictPolicy::kSkip;
  if (dry_run && cleanup) {
    spdlog::debug("--cleanup has no effect with --dry-run: nothing is deleted");
  }

  auto progress = seconds_to_ms(progress_s, "--progress-interval");
  if (!progress) return fail(progress.error());
  cfg.copy.progress_interval_ms = *progress;
  auto connect_ms = seconds_to_ms(connect_timeout_s, "--connect-timeout");
  if (!connect_ms) return fail(connect_ms.error());
  auto timeout_ms = seconds_to_ms(timeout_s, "--timeout");
  if (!timeout_ms) return fail(timeout_ms.error());
  auto retry_ms = seconds_to_ms(retry_timeout_s, "--retry-timeout");
  if (!retry_ms) return fail(retry_ms.error());
  o.retry_timeout_ms = *retry_ms;

  auto s = build_side("source", src, cfg.copy.source_url);
  if (!s) return fail(s.error());
  auto d = build_side("destination", dst, cfg.copy.destination_url);
  if (!d) return fail(d.error());
  cfg.copy.source = std::move(*s);
  cfg.copy.destination = std::move(*d);
  for (auto* side : {&cfg.copy.source, &cfg.copy.destination}) {
    side->connect_timeout_ms = std::max<uint32_t>(*connect_ms, 100);
    side->reply_timeout_ms = std::max<uint32_t>(*timeout_ms, 100);
  }
  return cfg;
}

}  // namespace rmig::app
