#include "app/cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

#include "app/cli_parts.hpp"
#include "app/url.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"

// parse_command_line: the commands and their options (app/cli_options.cpp) parsed in any order, then each
// group of values checked and turned into the Config, one function per group.

namespace rmig::app {

using namespace cli_parts;

namespace {

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

}  // namespace

namespace {

// A value CLI11 took from the option's environment variable rather than from the command line.
bool from_environment(const CLI::App& used, const char* name) {
  const CLI::Option* opt = used.get_option_no_throw(name);
  if (opt == nullptr || opt->count() == 0) return false;
  const auto& order = used.parse_order();
  return std::find(order.begin(), order.end(), opt) == order.end();
}

// The URLs the command needs: 0 when they are there, otherwise the exit code after one line (and the usage
// for a first try without anything).
int check_urls(const CLI::App& used, const Flags& f, bool needs_source, int argc) {
  if ((!needs_source || !f.src.url.empty()) && !f.dst.url.empty()) return 0;
  if (argc <= 1) std::fprintf(stderr, "%s\n", used.help().c_str());
  std::string found;
  if (!needs_source || (f.src.url.empty() && f.dst.url.empty())) {
    found = "no URL was given";
  } else {
    found = "found only " + redact_raw_url(f.src.url) + ", taken as the source URL" +
            (from_environment(used, "SOURCE_URL") ? " (from SOURCE_REDIS_URL)" : "");
  }
  for (const std::string& swallowed : url_like_values(used))
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

// Window, pacing, path, deletion overrides and the conflict policy.
Status apply_copy_options(const CLI::App& used, const Flags& f, Config& cfg) {
  engine::CopyOptions& o = cfg.copy.options;
  auto wb = parse_size(f.window_bytes);
  if (!wb) return Error{ExitCode::kUsage, "--window-bytes " + wb.error().message};
  o.window.bytes = *wb;
  if (!f.max_bytes_per_sec.empty()) {
    auto mb = parse_size(f.max_bytes_per_sec);
    if (!mb) return Error{ExitCode::kUsage, "--max-bytes-per-sec " + mb.error().message};
    o.rate_limit_bytes = *mb;
  }
  o.rate_limit_keys = f.rate_limit;
  o.mode = value_of(engine::kCopyModeNames, f.mode).value_or(engine::CopyMode::kAuto);
  auto bkt = parse_size(f.big_key_threshold);
  if (!bkt) return Error{ExitCode::kUsage, "--big-key-threshold " + bkt.error().message};
  o.big_key_threshold = *bkt;
  o.drop_field_ttls = f.drop_field_ttls;
  o.keep_idle = f.keep_idle;
  o.dry_run = f.dry_run || cfg.command == Command::kPlan;
  o.cleanup = f.cleanup;
  cfg.copy.assume_distinct = f.assume_distinct;
  cfg.copy.allow_evicting_destination = f.allow_evicting_destination;

  // Conflict policy: --replace (REPLACE_DST_KEYS) means replace; it must not contradict --on-conflict.
  const bool explicit_policy =
      used.get_option_no_throw("--on-conflict") != nullptr && used.get_option("--on-conflict")->count() > 0;
  if (f.replace && explicit_policy && f.on_conflict != "replace") {
    return Error{ExitCode::kUsage,
                 "--replace contradicts --on-conflict " + f.on_conflict + ": give one of them"};
  }
  const std::string policy = f.replace ? "replace" : f.on_conflict;
  o.conflict = value_of(engine::kConflictPolicyNames, policy).value_or(engine::ConflictPolicy::kSkip);
  o.merge_prefer_source = f.merge_prefer == "source";
  return {};
}

// --match, --exclude, --type, the rename rules (command line or environment) and --all-dbs.
Status apply_selection(const CLI::App& used, Flags& f, Config& cfg) {
  // Lists from the environment (MATCH, EXCLUDE, TYPE) arrive as one value each: split them as the rename
  // variables are.
  for (auto [name, list] :
       {std::pair{"--match", &f.match}, std::pair{"--exclude", &f.exclude}, std::pair{"--type", &f.types}}) {
    if (!from_environment(used, name)) continue;
    std::vector<std::string> items;
    for (const std::string& v : *list) {
      auto split = split_env_list(v);
      // Commas separated the patterns once: say so when a one-line value reads like such a list.
      std::string as_list = v;
      std::replace(as_list.begin(), as_list.end(), ',', ';');
      if (list != &f.types && split.size() == 1 && split_env_list(as_list).size() > 1) {
        const std::string variable = used.get_option(name)->get_envname();
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
      return Error{ExitCode::kUsage, (from_environment(used, "--type") ? "TYPE: '" : "--type '") + t +
                                         "' is not a key type: give one of string, list, set, zset, "
                                         "hash, stream (one per --type; in TYPE, separated by ';')"};
    }
  }
  engine::Selection& sel = cfg.copy.options.selection;
  sel.match = f.match;
  sel.exclude = f.exclude;
  sel.types = f.types;
  sel.own_prefix = cfg.state.prefix;
  // Keys under the state prefix are never selected: a --match pattern that reaches into it would silently
  // leave keys behind, and the tool's lock and records would live among the copied keys. A pattern without
  // literal text at its start ("*", "*:session") selects across every prefix and is left alone.
  for (const std::string& m : f.match) {
    if (!select::glob_literal_prefix(m).empty() && select::glob_may_match_prefixed(m, cfg.state.prefix)) {
      return Error{ExitCode::kUsage,
                   "--state-prefix '" + cfg.state.prefix + "' lies inside the selection --match '" + m +
                       "': keys under it would never be copied, and the tool's own keys would sit among "
                       "the copied ones; choose a --state-prefix no --match pattern reaches (the default "
                       "is redis-migrate:)"};
    }
  }
  auto specs = rule_specs(used, f);
  bool env_rules = false;
  if (specs.empty() && used.get_option_no_throw("--rename") != nullptr) {
    auto from_env = env_rule_specs();
    if (!from_env) return from_env.error();
    specs = std::move(*from_env);
    env_rules = !specs.empty();
  }
  for (const select::RuleSpec& spec : specs) {
    if (spec.kind != select::RuleSpec::Kind::kRegex) continue;
    f.regex_rule =
        std::string(env_rules ? "the RENAME rule '" : "--rename '") + spec.from + "' '" + spec.to + "'";
    break;
  }
  if (!specs.empty()) {
    auto rules = select::RenameRules::build(specs);
    if (!rules && env_rules) {
      return Error{
          rules.error().code,
          rules.error().message + " (the rule comes from RENAME_PREFIX or RENAME in the environment)"};
    }
    if (!rules) return rules.error();
    sel.rename = std::make_shared<const select::RenameRules>(std::move(*rules));
  }
  cfg.copy.all_dbs = f.all_dbs;
  if (used.get_option_no_throw("--shard") == nullptr) return {};  // status
  auto shard = resolve_shard(f.shard, from_environment(used, "--shard") ? "SHARD" : "--shard");
  if (!shard) return shard.error();
  sel.shard = *shard;
  if (sel.shard.active() && f.all_dbs) {
    return Error{ExitCode::kUsage,
                 "--shard " + sel.shard.text() +
                     " with --all-dbs: hash slots belong to database 0 of a cluster; shard a copy of one "
                     "database, or drop --shard"};
  }
  return {};
}

// Whether an option of `used` was given, on the command line or in its environment variable.
bool given(const CLI::App& used, const char* name) {
  const CLI::Option* o = used.get_option_no_throw(name);
  return o != nullptr && o->count() > 0;
}

// --live and its options; the options a live run cannot honour are refused here, before anything connects.
// Runs after apply_copy_options and apply_selection (the conflict policy, the rename rules and the shard are
// known).
Status apply_live(const CLI::App& used, const Flags& f, Config& cfg) {
  if (used.get_option_no_throw("--live") == nullptr) return {};  // verify, cleanup, status, ...
  engine::LiveOptions& live = cfg.copy.options.live;
  // The name of an option as the operator gave it: the flag, or its environment variable.
  auto shown = [&](const char* name) {
    return from_environment(used, name) ? used.get_option(name)->get_envname() : std::string(name);
  };
  if (!f.live) {
    for (const char* name :
         {"--live-pending-max", "--until-idle", "--verify-at-cutover", "--assume-notifications"}) {
      if (given(used, name) && (std::string_view(name) != "--verify-at-cutover" || f.verify_at_cutover) &&
          (std::string_view(name) != "--assume-notifications" || f.assume_notifications)) {
        return Error{ExitCode::kUsage,
                     shown(name) + " tunes a live run: add --live (LIVE=1), or drop " + shown(name)};
      }
    }
    return {};
  }
  const std::string live_name = shown("--live");
  auto refuse = [&](const std::string& what, const std::string& why_and_fix) -> Status {
    return Error{ExitCode::kUsage, live_name + " with " + what + ": " + why_and_fix};
  };
  const engine::CopyOptions& o = cfg.copy.options;
  if (cfg.command == Command::kPlan || f.dry_run) {
    return refuse(cfg.command == Command::kPlan ? std::string("plan") : shown("--dry-run"),
                  "a plan writes nothing and has no live phase; run the plan without --live");
  }
  if (o.cleanup) {
    return refuse(
        shown("--cleanup"),
        "the source is still written during a live run, so no key can be deleted from it; drop "
        "--cleanup and run `redis-migrate cleanup` after the cut-over if you mean to move the keys");
  }
  if (o.conflict == engine::ConflictPolicy::kMerge || o.conflict == engine::ConflictPolicy::kFail) {
    return refuse(
        shown("--on-conflict") + " " + name_of(engine::kConflictPolicyNames, o.conflict),
        "a live run makes the destination an exact copy of the selected source keys, replacing "
        "what it finds; drop --on-conflict (a destination already holding the keys needs --replace)");
  }
  if (!f.regex_rule.empty()) {
    return refuse(f.regex_rule,
                  "a live run maps each destination name back to its source name to delete the copies of "
                  "keys that are gone, which only prefix rules allow; use --rename-prefix OLD NEW "
                  "(RENAME_PREFIX)");
  }
  if (cfg.copy.all_dbs) {
    return refuse(shown("--all-dbs"),
                  "a live run follows one database; start one live run per database (/N in both URLs)");
  }
  if (o.selection.shard.active()) {
    return refuse(
        "--shard " + o.selection.shard.text() + (from_environment(used, "--shard") ? " (SHARD)" : ""),
        "a live run follows the whole keyspace from one process (its notifications are not "
        "sharded); drop --shard (SHARD, JOB_COMPLETION_INDEX/SHARD_COUNT)");
  }
  if (o.threads > 1) {
    return refuse(shown("--threads") + " " + std::to_string(o.threads),
                  "a live run's key map, change feed and cut-over barrier belong to one event loop; use "
                  "--threads 1 or leave it out");
  }
  if (f.read_from == "replicas") {
    return refuse(shown("--read-from") + " replicas",
                  "a replica lags behind its primary, so a cut-over could end before changes it has not "
                  "applied yet are copied; read from the primaries (drop --read-from)");
  }
  if (cfg.state.no_lock) {
    return refuse(shown("--no-lock"),
                  "a live run holds the destination's lock for its whole life (the cutover command finds "
                  "the run through it); drop --no-lock");
  }
  live.enabled = true;
  live.pending_max = f.live_pending_max;
  live.assume_notifications = f.assume_notifications;
  live.until_idle_s = f.until_idle_s;
  live.verify_at_cutover = f.verify_at_cutover;
  return {};
}

// Cluster modes, timeouts, the verify tolerance, and both sides' connection options.
Status apply_connections(Flags& f, Config& cfg, bool needs_source) {
  auto mode = [](const std::string& m) {
    return value_of(engine::kClusterModeNames, m).value_or(engine::ClusterMode::kAuto);
  };
  cfg.copy.source_cluster = mode(f.source_cluster);
  cfg.copy.destination_cluster = mode(f.destination_cluster);
  cfg.copy.read_from_replicas = f.read_from == "replicas";

  auto progress = seconds_to_ms(f.progress_s, "--progress-interval");
  if (!progress) return progress.error();
  cfg.copy.progress_interval_ms = *progress;
  auto connect_ms = seconds_to_ms(f.connect_timeout_s, "--connect-timeout");
  if (!connect_ms) return connect_ms.error();
  auto timeout_ms = seconds_to_ms(f.timeout_s, "--timeout");
  if (!timeout_ms) return timeout_ms.error();
  auto retry_ms = seconds_to_ms(f.retry_timeout_s, "--retry-timeout");
  if (!retry_ms) return retry_ms.error();
  cfg.copy.options.retry_timeout_ms = *retry_ms;
  auto tolerance_ms = seconds_to_ms(f.ttl_tolerance_s, "--ttl-tolerance");
  if (!tolerance_ms) return tolerance_ms.error();
  cfg.verify.ttl_tolerance_ms = *tolerance_ms;

  if (needs_source) {
    auto s = build_side("source", f.src, cfg.copy.source_url);
    if (!s) return s.error();
    cfg.copy.source = std::move(*s);
  }
  auto d = build_side("destination", f.dst, cfg.copy.destination_url);
  if (!d) return d.error();
  cfg.copy.destination = std::move(*d);
  for (auto* side : {&cfg.copy.source, &cfg.copy.destination}) {
    side->connect_timeout_ms = std::max<uint32_t>(*connect_ms, 100);
    side->reply_timeout_ms = std::max<uint32_t>(*timeout_ms, 100);
  }
  return {};
}

}  // namespace

std::variant<Config, int> parse_command_line(int argc, char** argv) {
  BoundCommands bound{};
  CLI::App app{kDescription, "redis-migrate"};
  const Subcommands subs = define_commands(app, bound);

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
  for (std::size_t i = 0; i < subs.size(); ++i) {
    if (subs[i].first->parsed()) {
      used = subs[i].first;
      which = i + 1;
      command = subs[i].second;
    }
  }
  Config cfg = std::move(bound[which].cfg);
  Flags& f = bound[which].f;
  cfg.command = command;

  bool debug = false;
  if (int rc = env_flag("DEBUG", debug); rc != 0) return rc;
  if (debug && used->get_option("--log-level")->count() == 0) f.log_level = "debug";
  cfg.log_level = spdlog::level::from_str(f.log_level);
  cfg.log_format = value_of(report::kLogFormatNames, f.log_format).value_or(report::LogFormat::kText);

  const bool needs_source =
      cfg.command != Command::kStatus && cfg.command != Command::kUnlock && cfg.command != Command::kCutover;
  if (int rc = check_urls(*used, f, needs_source, argc); rc != 0) return rc;

  auto fail = [](const Error& e) {
    std::fprintf(stderr, "redis-migrate: %s\n", e.message.c_str());
    return to_int(e.code);
  };
  if (cfg.state.prefix.empty()) {
    return fail(
        Error{ExitCode::kUsage,
              "--state-prefix must not be empty: the tool's own keys on the destination (its lock and "
              "run records) need a prefix of their own, e.g. redis-migrate:"});
  }
  if (auto st = apply_copy_options(*used, f, cfg); !st) return fail(st.error());
  if (auto st = apply_selection(*used, f, cfg); !st) return fail(st.error());
  if (auto st = apply_live(*used, f, cfg); !st) return fail(st.error());
  if (auto st = apply_connections(f, cfg, needs_source); !st) return fail(st.error());
  return cfg;
}

}  // namespace rmig::app
