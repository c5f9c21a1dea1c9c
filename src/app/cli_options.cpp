#include "app/cli_parts.hpp"

// The option groups: each declares its options (names, environment variables, help, defaults) on a command,
// bound to that command's Flags and Config; define_commands puts the commands together.

#include <string>

#include "copy/copy_command.hpp"
#include "report/log.hpp"

namespace rmig::app::cli_parts {

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
    "  4    another run holds the destination's lock (with --shard: the shard's lease, or that of a run\n"
    "       whose slots overlap: an unsharded run, or a shard of another count)\n"
    "  5    the destination refuses writes (read-only replica, out of memory, cannot persist), or evicts\n"
    "       keys: an evicting maxmemory-policy refuses --cleanup and cleanup, and an eviction during a run\n"
    "       stops every deletion\n"
    "  6    the work finished but its --report-json could not be written in full (disk full, stdout closed)\n"
    "  7    cutover: the run did not confirm the cut-over (still running when --timeout ran out: the\n"
    "       request stands; or it ended without answering it, e.g. killed)\n"
    "  70   internal error (a bug: please report it)\n"
    "  130  interrupted by SIGINT, 143 by SIGTERM, 129 by SIGHUP (keys in flight were finished first)\n"
    "  cutover exits with the live run's own exit code once it ended (0: cut over, everything written\n"
    "  before the request is on the destination); 2 when no live run holds the lock\n"
    "Signals: SIGUSR1 cuts a live run (--live) over, as the cutover command does; other runs ignore it.\n";

constexpr const char* kEnvHelp =
    "Environment:\n"
    "  SOURCE_REDIS_URL, DESTINATION_REDIS_URL  used when the URLs are not given as arguments (keeps\n"
    "                                           passwords out of the process list)\n"
    "  DRY_RUN=1 (--dry-run), DEBUG=1 (--log-level debug), REPLACE_DST_KEYS=1 (--replace), CLEAN_UP=1 "
    "(--cleanup)\n"
    "  Every other option reads the variable shown next to it, e.g. REPORT_JSON=/tmp/report.json.\n"
    "  MATCH, EXCLUDE, TYPE, RENAME_PREFIX, RENAME: one value per line, or separated by ';' (a ';' inside\n"
    "  a glob's [...] or escaped as \\; is part of the value).\n"
    "  JOB_COMPLETION_INDEX=I with SHARD_COUNT=N (a Kubernetes Indexed Job) means --shard I/N.\n"
    "  Command-line values win over the environment.\n";

constexpr const char* kUrlHelp =
    "URLs:\n"
    "  redis://[[user]:password@]host[:port][/db]   (defaults: port 6379, db 0; IPv6 as [::1])\n"
    "  rediss://...                                 the same over TLS\n"
    "  unix:///path/to/redis.sock[?db=N]\n"
    "  Percent-encode @ / # ? in passwords (as %40 %2F %23 %3F). Passwords are never printed.\n"
    "Options may come before, between or after the URLs and the command; -- ends the options. Each takes\n"
    "its own values per occurrence (--match G, --rename-prefix OLD NEW): repeat it for more.\n";

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
  app.add_option("--shard", f.shard,
                 "I/N: copy (or plan, verify, clean up) only shard I of N, an even contiguous share of the "
                 "16384 hash slots (I from 0 to N-1); run N processes, one per shard. Each shard has its own "
                 "lock and run record [env: SHARD; or JOB_COMPLETION_INDEX with SHARD_COUNT, as a Kubernetes "
                 "Indexed Job sets it]")
      ->envname("SHARD")
      ->type_name("I/N")
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
                 "seconds a dropped connection is reconnected (a failed-over source node: until another "
                 "primary serves its slots), and a retryable per-key error (LOADING, BUSY, TRYAGAIN) "
                 "retried, before giving up (0: no retries)")
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
      ->check(CLI::IsMember(names_of(engine::kClusterModeNames)))
      ->capture_default_str()
      ->group(g);
  app.add_option(
         "--destination-cluster", f.destination_cluster,
         "on, off or auto: treat the destination as a Redis Cluster (each RESTORE goes to the node owning "
         "the key's slot)")
      ->envname("DESTINATION_CLUSTER")
      ->check(CLI::IsMember(names_of(engine::kClusterModeNames)))
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
               "do not take the destination's lock (another run may write at once; a run of overlapping "
               "slots, sharded or not, holding its lease still refuses this one)")
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

void add_metrics_option(CLI::App& app, Config& cfg) {
  app.add_option(
         "--metrics-port", cfg.copy.metrics_port,
         "serve Prometheus metrics (keys by outcome, bytes, keys in flight, errors; live runs: pending "
         "keys, lag, changes, resyncs, phase) at http://0.0.0.0:PORT/metrics until the process exits; a "
         "port already in use is refused (exit 2) before anything is written")
      ->envname("METRICS_PORT")
      ->type_name("PORT")
      ->group("Output");
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
  add_metrics_option(app, cfg);
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

// --threads (copy and plan).
void add_threads_option(CLI::App& app, Config& cfg) {
  app.add_option(
         "--threads", cfg.copy.options.threads,
         "event loops, one thread each, over which the source nodes (the shards of a source cluster) are "
         "spread, each loop with its own connections; one lock, one run record, one report. Default: one "
         "per source node, at most the cores available. A standalone source, a live run (--live refuses more "
         "than 1), a server-side copy and --cleanup into an evicting destination use one loop. Memory "
         "(--window-bytes) and --rate-limit / --max-bytes-per-sec are totals, divided between the loops")
      ->envname("THREADS")
      ->type_name("N")
      ->group("Tuning");
}

// --live and the options that tune it (copy; plan takes them too, to refuse them with one clear line).
void add_live_options(CLI::App& app, Flags& f) {
  const std::string g = "Live sync (--live)";
  app.add_flag(
         "--live", f.live,
         "after the bulk copy, keep the destination an exact copy of the selected source keys from keyspace "
         "notifications (subscribed before the bulk copy starts) until a cut-over: `redis-migrate cutover "
         "DESTINATION_URL`, SIGUSR1, or --until-idle. Needs notify-keyspace-events KEA on the source "
         "(proven with probe keys first); refuses --cleanup, --dry-run, --on-conflict merge|fail, --rename "
         "REGEX, --all-dbs, --shard, --read-from replicas and --no-lock")
      ->envname("LIVE")
      ->group(g);
  app.add_option("--live-pending-max", f.live_pending_max,
                 "with --live: keys waiting to be copied again at most; beyond it the run resyncs the "
                 "source (compares every key) instead of growing")
      ->envname("LIVE_PENDING_MAX")
      ->capture_default_str()
      ->group(g);
  app.add_flag("--assume-notifications", f.assume_notifications,
               "with --live: do not prove notify-keyspace-events with probe keys under the state prefix "
               "(for users that may not write them); a wrong setting then loses changes silently")
      ->envname("ASSUME_NOTIFICATIONS")
      ->group(g);
  app.add_option("--until-idle", f.until_idle_s,
                 "with --live: cut over by itself once the bulk copy is done and no change but expirations "
                 "and evictions arrived for this many seconds, with nothing pending (for Jobs run after "
                 "writes are frozen)")
      ->envname("UNTIL_IDLE")
      ->type_name("SECONDS")
      ->group(g);
  app.add_flag("--verify-at-cutover", f.verify_at_cutover,
               "with --live: after a cut-over that ended the run with exit 0, verify the selection (as the "
               "verify command does) and exit 1 on any difference; the report gains `verify`")
      ->envname("VERIFY_AT_CUTOVER")
      ->group(g);
}

}  // namespace

const char* const kDescription =
    "redis-migrate: copy every key from one Redis server to another, exactly, with TTLs.\n"
    "Uses SCAN, PTTL, DUMP and RESTORE, and on the rewrite path each type's own read and write commands\n"
    "(GETRANGE, HSCAN, XRANGE, RENAME...); never KEYS, MIGRATE, CONFIG, DEBUG or SYNC, so it works on\n"
    "managed services (ElastiCache, Memorystore, Azure, Upstash, Redis Cloud, Valkey).";

Subcommands define_commands(CLI::App& app, BoundCommands& bound) {
  auto& main_cmd = bound[0];
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
  add_threads_option(app, main_cmd.cfg);
  add_live_options(app, main_cmd.f);
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
  add_threads_option(*plan, plan_cmd.cfg);
  add_live_options(*plan, plan_cmd.f);
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
  unlock
      ->add_option(
          "--shard", unlock_cmd.f.shard,
          "I/N: clear the lease of shard I of N (<prefix>lock:shard-I-of-N) instead of <prefix>lock, "
          "and its entry in <prefix>lock:shards [env: SHARD; or JOB_COMPLETION_INDEX with SHARD_COUNT]")
      ->envname("SHARD")
      ->type_name("I/N");

  auto& cutover_cmd = bound[6];
  CLI::App* cutover = app.add_subcommand(
      "cutover",
      "end the live run (--live) holding the destination's lock: writes a request under the state prefix "
      "that the run notices within 1 s, waits for the run to apply every change received before it and "
      "end, and exits with the run's exit code (0: everything the source acknowledged before the request "
      "is on the destination); 2 when no live run holds the lock");
  add_urls(*cutover, cutover_cmd.f, false);
  add_side_options(*cutover, "destination", cutover_cmd.f.dst);
  add_state_options(*cutover, cutover_cmd.cfg, false);
  add_output_options(*cutover, cutover_cmd.f, cutover_cmd.cfg);
  cutover
      ->add_option("--timeout", cutover_cmd.cfg.state.cutover_timeout_s,
                   "seconds to wait for the run to end after the request (default: as long as the run "
                   "lives); when they run out the request stands and the exit code is 7")
      ->envname("CUTOVER_TIMEOUT")
      ->group("Cutover");

  add_numeric_checks(app);
  return {{{plan, Command::kPlan},
           {verify, Command::kVerify},
           {cleanup, Command::kCleanup},
           {status, Command::kStatus},
           {unlock, Command::kUnlock},
           {cutover, Command::kCutover}}};
}

}  // namespace rmig::app::cli_parts
