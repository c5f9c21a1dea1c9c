#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>

#include "app/cli.hpp"
#include "app/cli_parts.hpp"
#include "app/url.hpp"
#include "net/tls.hpp"
#include "util/file_check.hpp"

// The values of the command line and the environment: checked, converted and turned into settings (sizes,
// seconds, numeric ranges, URLs and secret files, environment lists, rename rules).

namespace rmig::app {

namespace {

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

}  // namespace

namespace cli_parts {

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

}  // namespace cli_parts

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

namespace {

// A whole number without sign or spaces (up to 18 digits), at most `max`; nullopt otherwise.
std::optional<uint64_t> whole_number(std::string_view t, uint64_t max) {
  if (t.empty() || t.size() > 18) return std::nullopt;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

const char* const kShardForm =
    "give I/N with N from 1 to 16384 and I from 0 to N-1 (e.g. --shard 0/3, 1/3 and 2/3 for three "
    "processes)";

}  // namespace

Result<select::Shard> parse_shard(std::string_view text, std::string_view what) {
  const std::string shown = std::string(what) + " '" + std::string(text) + "'";
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return make_error(ExitCode::kUsage, shown + " is not of the form I/N: " + kShardForm);
  }
  const auto i = whole_number(text.substr(0, slash), UINT64_MAX);
  const auto n = whole_number(text.substr(slash + 1), UINT64_MAX);
  if (!i || !n) {
    return make_error(ExitCode::kUsage, shown + " is not two whole numbers I/N: " + kShardForm);
  }
  if (*n < 1 || *n > 16384) {
    return make_error(ExitCode::kUsage, shown +
                                            ": N must be from 1 to 16384 (there are 16384 hash slots to "
                                            "share): " +
                                            kShardForm);
  }
  if (*i >= *n) {
    return make_error(ExitCode::kUsage, shown + ": the index I must be below N (shards are numbered 0 to " +
                                            std::to_string(*n - 1) + "): " + kShardForm);
  }
  return select::Shard{static_cast<uint32_t>(*i), static_cast<uint32_t>(*n)};
}

Result<select::Shard> resolve_shard(std::string_view flag, std::string_view flag_name) {
  const char* job_index = std::getenv("JOB_COMPLETION_INDEX");
  const char* count = std::getenv("SHARD_COUNT");
  std::optional<select::Shard> from_job;
  if (job_index != nullptr && count == nullptr && flag.empty()) {
    return make_error(ExitCode::kUsage,
                      std::string("JOB_COMPLETION_INDEX=") + job_index +
                          " is set but SHARD_COUNT is not: set SHARD_COUNT to the Job's completions (the "
                          "number of shards), or pass --shard I/N");
  }
  if (count != nullptr && job_index == nullptr && flag.empty()) {
    return make_error(ExitCode::kUsage,
                      std::string("SHARD_COUNT=") + count +
                          " is set but no shard index is: run in an Indexed Job (JOB_COMPLETION_INDEX) or "
                          "pass --shard I/N");
  }
  if (job_index != nullptr && count != nullptr) {
    auto s = parse_shard(std::string(job_index) + "/" + count, "JOB_COMPLETION_INDEX/SHARD_COUNT");
    if (!s) return s.error();
    from_job = *s;
  }
  if (flag.empty()) return from_job.value_or(select::Shard{});
  auto s = parse_shard(flag, flag_name);
  if (!s) return s.error();
  if (from_job && (from_job->index != s->index || (count != nullptr && from_job->count != s->count))) {
    return make_error(ExitCode::kUsage, std::string(flag_name) + " " + s->text() +
                                            " disagrees with JOB_COMPLETION_INDEX/" + "SHARD_COUNT " +
                                            from_job->text() + ": give the shard one way only");
  }
  if (job_index != nullptr && count == nullptr) {
    const auto idx = whole_number(job_index, UINT64_MAX);
    if (!idx || *idx != s->index) {
      return make_error(ExitCode::kUsage, std::string(flag_name) + " " + s->text() +
                                              " disagrees with JOB_COMPLETION_INDEX=" + job_index +
                                              ": give the shard one way only");
    }
  }
  return *s;
}

const std::vector<NumericOption>& numeric_options() {
  using K = NumericOption::Kind;
  static const std::vector<NumericOption> table = {
      {"--window-keys", K::kCount, 1, 1e6, nullptr},
      {"--window-bytes", K::kSize, 1e3, 64e9, nullptr},
      {"--scan-count", K::kCount, 1, 1e5, nullptr},
      {"--rate-limit", K::kCount, 1, 1e8, "no limit"},
      {"--threads", K::kCount, 1, 256, nullptr},
      {"--max-bytes-per-sec", K::kSize, 1e3, 1e12, "no limit"},
      {"--connect-timeout", K::kSeconds, 0.1, 86400, nullptr},
      {"--timeout", K::kSeconds, 0.1, 86400, nullptr},
      {"--retry-timeout", K::kSeconds, 0.1, 86400, "no retries"},
      {"--progress-interval", K::kSeconds, 0.01, 86400, "no progress lines"},
      {"--metrics-port", K::kCount, 1, 65535, nullptr},
      {"--examples", K::kCount, 0, 1e4, nullptr},
      {"--big-key-threshold", K::kSize, 1e3, 1e12, "no size check"},
      {"--lock-ttl", K::kSeconds, 1, 3600, nullptr},
      {"--ttl-tolerance", K::kSeconds, 0, 604800, nullptr},
      {"--sample", K::kCount, 1, 1e8, "every key"},
      {"--max-differences", K::kCount, 0, 1e6, nullptr},
      {"--live-pending-max", K::kCount, 1, 1e9, nullptr},
      {"--until-idle", K::kCount, 1, 604800, nullptr},
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

}  // namespace rmig::app
