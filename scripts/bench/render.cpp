#include "render.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace rmbench {
namespace {

using Json = nlohmann::ordered_json;
constexpr double kMiB = 1024.0 * 1024.0;

struct Record {
  std::string kind;
  std::map<std::string, std::string> fields;

  bool has(const std::string& key) const { return fields.count(key) != 0 && !fields.at(key).empty(); }
  std::string text(const std::string& key) const { return has(key) ? fields.at(key) : std::string(); }
  double number(const std::string& key) const {
    if (!has(key)) return NAN;
    try {
      return std::stod(fields.at(key));
    } catch (const std::exception&) {
      return NAN;
    }
  }
};

std::vector<Record> read_records(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<Record> records;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Record rec;
    std::istringstream parts(line);
    std::string item;
    std::getline(parts, rec.kind, '\t');
    while (std::getline(parts, item, '\t')) {
      const auto eq = item.find('=');
      if (eq != std::string::npos) rec.fields[item.substr(0, eq)] = item.substr(eq + 1);
    }
    records.push_back(std::move(rec));
  }
  return records;
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "not measured";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// 1234567 -> "1,234,567"
std::string grouped(double v) {
  if (std::isnan(v)) return "not measured";
  const std::string digits = std::to_string(std::llabs(std::llround(v)));
  std::string out = v < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

Json number_or_null(double v) { return std::isnan(v) ? Json(nullptr) : Json(v); }
Json count_or_null(double v) { return std::isnan(v) ? Json(nullptr) : Json(std::llround(v)); }

// A tool measurement recorded with a prefix: PREFIX_status (ok|failed|unavailable), PREFIX_s, PREFIX_rss_kb,
// PREFIX_note.
struct ToolRun {
  std::string status;
  std::string note;
  double seconds = NAN;
  double rss_mib = NAN;
  double cpu_s = NAN;      // the tool's user+sys CPU seconds in the fastest run
  double src_cpu_s = NAN;  // the source server's, same run (when measured)
  double dst_cpu_s = NAN;  // the destination server's, same run (when measured)

  ToolRun(const Record& rec, const std::string& prefix)
      : status(rec.text(prefix + "_status")),
        note(rec.text(prefix + "_note")),
        seconds(rec.number(prefix + "_s")),
        rss_mib(rec.number(prefix + "_rss_kb") / 1024.0),
        cpu_s(rec.number(prefix + "_cpu_s")),
        src_cpu_s(rec.number(prefix + "_src_cpu_s")),
        dst_cpu_s(rec.number(prefix + "_dst_cpu_s")) {
    if (status.empty()) status = "unavailable";
    if (status != "ok") seconds = rss_mib = cpu_s = src_cpu_s = dst_cpu_s = NAN;
  }
  bool ok() const { return status == "ok"; }
  double rate(double units) const { return ok() ? units / seconds : NAN; }
  // What to print in a result cell when there is no figure.
  std::string why_not() const {
    if (status == "unavailable") return "tool not available" + (note.empty() ? "" : " (" + note + ")");
    return "FAIL: " + (note.empty() ? status : note);
  }
  Json json(double keys, double mib) const {
    return Json{{"status", status},
                {"note", note},
                {"seconds", number_or_null(seconds)},
                {"keys_per_s", number_or_null(rate(keys))},
                {"mib_per_s", number_or_null(rate(mib))},
                {"peak_rss_mib", number_or_null(rss_mib)},
                {"cpu_s", number_or_null(cpu_s)},
                {"source_cpu_s", number_or_null(src_cpu_s)},
                {"destination_cpu_s", number_or_null(dst_cpu_s)},
                {"cpu_s_per_million_keys", number_or_null(cpu_s / keys * 1e6)},
                {"source_cpu_s_per_million_keys", number_or_null(src_cpu_s / keys * 1e6)},
                {"destination_cpu_s_per_million_keys", number_or_null(dst_cpu_s / keys * 1e6)}};
  }
};

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  std::string markdown() const {
    std::string out = line(header_);
    std::vector<std::string> rule;
    for (std::size_t i = 0; i < header_.size(); ++i)
      rule.emplace_back(i == 0 || i + 1 == header_.size() ? "---" : "---:");
    out += line(rule);
    for (const auto& r : rows_)
      out += line(r);
    return out;
  }

 private:
  static std::string line(const std::vector<std::string>& cells) {
    std::string out = "|";
    for (const auto& c : cells)
      out += " " + c + " |";
    return out + "\n";
  }
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string percent(double ratio) { return std::isnan(ratio) ? "not measured" : fixed(ratio * 100, 0) + "%"; }

}  // namespace

std::string render_results(const std::string& results_path, const std::string& markdown_path,
                           const std::string& json_path) {
  const std::vector<Record> records = read_records(results_path);
  Json doc{{"meta", Json::object()},
           {"targets",
            {{"tool_fraction_of_limit", kLimitFraction},
             {"max_peak_rss_mib", kMaxRssMib},
             {"tls_fraction_of_plain", kTlsFraction}}},
           {"datasets", Json::array()},
           {"tls", Json::array()},
           {"cluster", Json::array()},
           {"rewrite", Json::array()},
           {"bigkeys", Json::array()},
           {"not_available", Json::array()}};

  Table main_table({"dataset", "keys", "MB", "limit keys/s (DUMP + RESTORE at once)", "tool keys/s",
                    "tool MB/s", "% of limit", "tool peak RSS MB", "result"});
  Table limits_table({"dataset", "keys", "MB", "seed s", "at once s", "limit keys/s", "DUMP alone keys/s",
                      "DUMP alone MB/s", "RESTORE alone keys/s", "RESTORE alone MB/s", "tool's reads",
                      "tool's reads keys/s", "tool's reads / DUMP alone"});
  Table cpu_table({"dataset", "source: DUMP alone", "source: tool's reads", "destination: RESTORE alone",
                   "at once: source", "at once: destination", "tool run: tool", "tool run: source",
                   "tool run: destination", "tool < source"});
  Table tls_table(
      {"dataset", "keys", "plain keys/s", "TLS keys/s", "TLS / plain", "TLS peak RSS MB", "result"});
  Table cluster_table(
      {"dataset", "keys", "MB", "cluster tool keys/s", "cluster tool MB/s", "peak RSS MB", "result"});
  Table rewrite_table({"dataset", "keys", "dump path keys/s", "rewrite keys/s", "rewrite / dump",
                       "rewrite peak RSS MB", "result"});
  Table big_table({"dataset", "MB", "DUMP replay s", "RESTORE replay s", "tool mode", "tool s",
                   "tool peak RSS MB", "result"});
  std::string not_available;

  for (const Record& rec : records) {
    const double keys = rec.number("keys");
    const double mib = rec.number("payload_bytes") / kMiB;
    const std::string name = rec.text("name");
    if (rec.kind == "meta") {
      for (const auto& [k, v] : rec.fields)
        doc["meta"][k] = v;
    } else if (rec.kind == "dataset") {
      const double serve = keys / rec.number("serve_s");
      const double absorb = keys / rec.number("absorb_s");
      const double limit = keys / rec.number("both_s");
      const double mix_rate = keys / rec.number("mix_s");
      const ToolRun tool(rec, "tool");
      const auto per_m = [keys](double cpu) { return cpu / keys * 1e6; };
      const double ratio = tool.rate(keys) / limit;
      std::string result;
      if (!tool.ok()) {
        result = tool.why_not();
      } else if (std::isnan(limit)) {
        result = "no limit measured";
      } else {
        std::string why;
        if (ratio < kLimitFraction) why += percent(ratio) + " < " + percent(kLimitFraction);
        if (tool.rss_mib > kMaxRssMib)
          why += (why.empty() ? "" : "; ") + ("RSS " + fixed(tool.rss_mib, 1) + " MB > 64 MB");
        result = why.empty() ? "pass" : "FAIL (" + why + ")";
      }
      main_table.add({name, grouped(keys), fixed(mib, 1), grouped(limit), grouped(tool.rate(keys)),
                      fixed(tool.rate(mib), 1), percent(ratio), fixed(tool.rss_mib, 1), result});
      limits_table.add({name, grouped(keys), fixed(mib, 1), fixed(rec.number("seed_s"), 2),
                        fixed(rec.number("both_s"), 2), grouped(limit), grouped(serve),
                        fixed(mib / rec.number("serve_s"), 1), grouped(absorb),
                        fixed(mib / rec.number("absorb_s"), 1), rec.text("mix"), grouped(mix_rate),
                        percent(mix_rate / serve)});
      const double tool_cpu = per_m(tool.cpu_s);
      const double tool_src_cpu = per_m(tool.src_cpu_s);
      cpu_table.add(
          {name, fixed(per_m(rec.number("serve_src_cpu_s")), 2), fixed(per_m(rec.number("mix_src_cpu_s")), 2),
           fixed(per_m(rec.number("absorb_dst_cpu_s")), 2), fixed(per_m(rec.number("both_src_cpu_s")), 2),
           fixed(per_m(rec.number("both_dst_cpu_s")), 2), fixed(tool_cpu, 2), fixed(tool_src_cpu, 2),
           fixed(per_m(tool.dst_cpu_s), 2),
           std::isnan(tool_cpu) || std::isnan(tool_src_cpu) ? "not measured"
           : tool_cpu < tool_src_cpu                        ? "yes"
                                                            : "NO"});
      doc["datasets"].push_back(
          Json{{"name", name},
               {"keys", count_or_null(keys)},
               {"payload_mib", mib},
               {"seed_s", number_or_null(rec.number("seed_s"))},
               {"serve",
                {{"seconds", number_or_null(rec.number("serve_s"))},
                 {"keys_per_s", number_or_null(serve)},
                 {"mib_per_s", number_or_null(mib / rec.number("serve_s"))},
                 {"reply_bytes", number_or_null(rec.number("serve_bytes_in"))},
                 {"source_cpu_s", number_or_null(rec.number("serve_src_cpu_s"))}}},
               {"absorb",
                {{"seconds", number_or_null(rec.number("absorb_s"))},
                 {"keys_per_s", number_or_null(absorb)},
                 {"mib_per_s", number_or_null(mib / rec.number("absorb_s"))},
                 {"destination_cpu_s", number_or_null(rec.number("absorb_dst_cpu_s"))}}},
               {"both_at_once",
                {{"seconds", number_or_null(rec.number("both_s"))},
                 {"keys_per_s", number_or_null(limit)},
                 {"source_cpu_s", number_or_null(rec.number("both_src_cpu_s"))},
                 {"destination_cpu_s", number_or_null(rec.number("both_dst_cpu_s"))}}},
               {"tool_reads",
                {{"mix", rec.text("mix")},
                 {"seconds", number_or_null(rec.number("mix_s"))},
                 {"keys_per_s", number_or_null(mix_rate)},
                 {"source_cpu_s", number_or_null(rec.number("mix_src_cpu_s"))}}},
               {"limit_keys_per_s", number_or_null(limit)},
               {"tool", tool.json(keys, mib)},
               {"fraction_of_limit", number_or_null(ratio)},
               {"result", result}});
    } else if (rec.kind == "tls") {
      const ToolRun plain(rec, "plain");
      const ToolRun tls(rec, "tls");
      const double ratio = tls.rate(keys) / plain.rate(keys);
      std::string result = !plain.ok() ? plain.why_not()
                           : !tls.ok() ? tls.why_not()
                           : ratio >= kTlsFraction
                               ? "pass"
                               : "FAIL (" + percent(ratio) + " < " + percent(kTlsFraction) + ")";
      tls_table.add({name, grouped(keys), grouped(plain.rate(keys)), grouped(tls.rate(keys)), percent(ratio),
                     fixed(tls.rss_mib, 1), result});
      doc["tls"].push_back(Json{{"name", name},
                                {"keys", count_or_null(keys)},
                                {"payload_mib", mib},
                                {"plain", plain.json(keys, mib)},
                                {"tls", tls.json(keys, mib)},
                                {"tls_fraction_of_plain", number_or_null(ratio)},
                                {"result", result}});
    } else if (rec.kind == "cluster") {
      const ToolRun tool(rec, "tool");
      const std::string result = !tool.ok() ? tool.why_not()
                                 : tool.rss_mib > kMaxRssMib
                                     ? "FAIL (RSS " + fixed(tool.rss_mib, 1) + " MB > 64 MB)"
                                     : "pass";
      cluster_table.add({name, grouped(keys), fixed(mib, 1), grouped(tool.rate(keys)),
                         fixed(tool.rate(mib), 1), fixed(tool.rss_mib, 1), result});
      doc["cluster"].push_back(Json{{"name", name},
                                    {"keys", count_or_null(keys)},
                                    {"payload_mib", mib},
                                    {"tool", tool.json(keys, mib)},
                                    {"result", result}});
    } else if (rec.kind == "rewrite") {
      const ToolRun dump(rec, "dump");
      const ToolRun rewrite(rec, "rewrite");
      const double ratio = rewrite.rate(keys) / dump.rate(keys);
      // Target: the rewrite path at least half as fast as the dump path, in the same RSS bound.
      const std::string result = !rewrite.ok() ? rewrite.why_not()
                                 : rewrite.rss_mib > kMaxRssMib
                                     ? "FAIL (RSS " + fixed(rewrite.rss_mib, 1) + " MB > 64 MB)"
                                 : dump.ok() && ratio < kMinRewriteRatio
                                     ? "FAIL (rewrite " + percent(ratio) + " of the dump path < 50 %)"
                                     : "pass";
      rewrite_table.add({name, grouped(keys), grouped(dump.rate(keys)), grouped(rewrite.rate(keys)),
                         percent(ratio), fixed(rewrite.rss_mib, 1), result});
      doc["rewrite"].push_back(Json{{"name", name},
                                    {"keys", count_or_null(keys)},
                                    {"payload_mib", mib},
                                    {"dump", dump.json(keys, mib)},
                                    {"rewrite", rewrite.json(keys, mib)},
                                    {"rewrite_over_dump", number_or_null(ratio)},
                                    {"result", result}});
    } else if (rec.kind == "bigkeys") {
      const ToolRun tool(rec, "tool");
      const std::string mode = rec.text("mode");
      // The dump path holds a whole key's payload, so only the rewrite path is held to the RSS bound.
      const std::string result = !tool.ok()          ? tool.why_not()
                                 : mode != "rewrite" ? "informative (no RSS bound on the dump path)"
                                 : tool.rss_mib > kMaxRssMib
                                     ? "FAIL (RSS " + fixed(tool.rss_mib, 1) + " MB > 64 MB)"
                                     : "pass";
      big_table.add({name, fixed(mib, 1), fixed(rec.number("serve_s"), 2), fixed(rec.number("absorb_s"), 2),
                     mode, fixed(tool.seconds, 2), fixed(tool.rss_mib, 1), result});
      doc["bigkeys"].push_back(Json{{"name", name},
                                    {"keys", count_or_null(keys)},
                                    {"payload_mib", mib},
                                    {"dump_replay_s", number_or_null(rec.number("serve_s"))},
                                    {"restore_replay_s", number_or_null(rec.number("absorb_s"))},
                                    {"mode", mode},
                                    {"tool", tool.json(keys, mib)},
                                    {"result", result}});
    } else if (rec.kind == "unavailable") {
      not_available += "- " + rec.text("section") + ": not available (" + rec.text("reason") + ")\n";
      doc["not_available"].push_back(Json{{"section", rec.text("section")}, {"reason", rec.text("reason")}});
    }
  }

  std::string md = "# redis-migrate benchmark results\n\n";
  for (const char* key : {"date", "command", "git", "host", "cpus", "redis", "quick", "repeat"}) {
    if (doc["meta"].contains(key))
      md += "- " + std::string(key) + ": `" + doc["meta"][key].get<std::string>() + "`\n";
  }
  md +=
      "\nMB = MiB of DUMP payload; rates are keys (or MiB) per second of wall time; each figure is the best "
      "of the "
      "repeats. Targets: tool >= " +
      percent(kLimitFraction) +
      " of the limit (the source serving DUMP for every key while the destination absorbs the RESTOREs, both "
      "replays at the same time), peak RSS <= " +
      fixed(kMaxRssMib, 0) + " MB, TLS >= " + percent(kTlsFraction) +
      " of plain. CPU = user+sys CPU seconds per million keys (the tool from wait4, the servers from "
      "/proc/PID/stat, 10 ms ticks). \"tool's reads\": the source serving what the tool asks for each key "
      "(pttl-dump: PTTL + DUMP; size-pttl-dump: MEMORY USAGE + PTTL + DUMP; type-pttl-getrange: TYPE + PTTL "
      "+ GETRANGE, a string read without DUMP; pttl-getrange: the same without TYPE, on a node of strings "
      "only).\n";
  const auto section = [&md](const char* title, const Table& table) {
    if (!table.empty()) md += std::string("\n## ") + title + "\n\n" + table.markdown();
  };
  section("Tool vs physical limit", main_table);
  section("Physical limits", limits_table);
  section("CPU seconds per million keys", cpu_table);
  section("TLS to TLS vs plain", tls_table);
  section("Cluster to cluster", cluster_table);
  section("Rewrite path vs dump path", rewrite_table);
  section("Big keys", big_table);
  if (!not_available.empty()) md += "\n## Not available\n\n" + not_available;

  std::ofstream(markdown_path) << md;
  std::ofstream(json_path) << doc.dump(2) << "\n";
  return md;
}

std::string report_fields(const std::string& report_path) {
  std::ifstream in(report_path);
  if (!in) throw std::runtime_error("no report at " + report_path);
  const Json report = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!report.is_object()) throw std::runtime_error(report_path + " is not a JSON object");
  std::string out;
  for (const char* key : {"scanned", "copied", "skipped", "expired", "vanished", "failed", "bytes",
                          "duration_s", "exit_code"}) {
    std::string value = "-";
    if (report.contains(key) && report[key].is_number()) value = report[key].dump();
    out += std::string(out.empty() ? "" : " ") + key + "=" + value;
  }
  return out;
}

}  // namespace rmbench
