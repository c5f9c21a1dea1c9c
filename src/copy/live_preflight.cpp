#include "copy/live_preflight.hpp"

#include <spdlog/spdlog.h>

#include "select/glob.hpp"
#include "select/rename.hpp"
#include "select/selector.hpp"
#include "state/checkpoint.hpp"
#include "state/state_store.hpp"
#include "util/escape.hpp"

namespace rmig::copy {

namespace {

// The source name a destination name comes from, when a selected key could be copied under it.
std::optional<std::string> renamed_back(const select::Selection& sel, std::string_view name) {
  if (!sel.rename || sel.rename->empty()) return std::string(name);
  if (sel.rename->rule_index_for(name) < 0) return std::string(name);
  return std::nullopt;
}

std::optional<std::string> selected_by(select::Selector& selector, const select::Selection& sel,
                                       std::string_view name) {
  auto source = renamed_back(sel, name);
  if (!source) return std::nullopt;
  // One --match pattern is the source's SCAN MATCH, which by_name() leaves to the server.
  if (!selector.scan_match().empty() && !select::glob_match(selector.scan_match(), *source))
    return std::nullopt;
  select::Naming naming;
  if (!selector.by_name(*source, naming)) return std::nullopt;
  const std::string_view target = naming.renamed ? std::string_view(naming.renamed_to) : *source;
  if (target != name) return std::nullopt;
  return source;
}

// A live run of the same fingerprint that did not end (killed, stopped, failed): its record.
Result<std::optional<state::RunRecord>> interrupted_run(net::Loop& loop, const engine::RunSpec& pass) {
  if (pass.state.restart) return std::optional<state::RunRecord>();
  state::StateClient client(loop, pass.destination);
  auto store = pass.state.state_file.empty()
                   ? state::destination_records(loop, client, pass.state.prefix, pass.destination_url,
                                                pass.destination)
                   : state::file_records(pass.state.state_file);
  const std::string id = state::run_id(state::fingerprint(pass, "copy"));
  auto old = store->load(id);
  store->close();
  if (!old) return old.error();
  if (!*old || (*old)->id != id || (*old)->status == "finished") return std::optional<state::RunRecord>();
  return old;
}

// The first destination key under the selection's names, if any: one SCAN of each destination primary.
Result<std::optional<std::string>> first_target_key(net::Loop& loop, const engine::Destination& destination,
                                                    const select::Selection& sel) {
  select::Selector selector(sel, false, 0, 0);
  // Without rename rules a destination name is its source name: the server filters with the selection's
  // MATCH (and TYPE, where it is the selection's only one).
  const bool plain = !sel.rename || sel.rename->empty();
  for (const auto& node : destination.nodes) {
    std::string cursor = "0";
    do {
      resp::Args args = {"SCAN", cursor};
      if (plain && !selector.scan_match().empty()) {
        args.push_back("MATCH");
        args.push_back(selector.scan_match());
      }
      args.push_back("COUNT");
      args.push_back("1000");
      auto r = resp::call_sync(loop, *node.conn, args);
      if (!r) return r.error();
      const redisReply* rep = r->get();
      if (!resp::is_array(rep) || rep->elements != 2 || !resp::is_string(rep->element[0]) ||
          !resp::is_array(rep->element[1])) {
        return make_error(ExitCode::kConnect, node.conn->label() +
                                                  ": SCAN failed while checking the "
                                                  "destination for --live (" +
                                                  resp::describe(rep) + ")");
      }
      cursor = std::string(resp::text(rep->element[0]));
      for (std::size_t i = 0; i < rep->element[1]->elements; ++i) {
        const redisReply* k = rep->element[1]->element[i];
        const std::string_view name(k->str, k->len);
        if (!selected_by(selector, sel, name)) continue;
        if (!sel.types.empty()) {
          auto t = resp::call_sync(loop, *node.conn, {"TYPE", std::string(name)});
          if (!t) return t.error();
          if (!resp::is_string(t->get())) continue;
          if (!selector.type_selected(resp::text(t->get()))) continue;
        }
        return std::optional<std::string>(std::string(name));
      }
    } while (cursor != "0");
  }
  return std::optional<std::string>();
}

}  // namespace

std::optional<std::string> selected_source(const select::Selection& selection, std::string_view name) {
  select::Selector selector(selection, false, 0, 0);
  return selected_by(selector, selection, name);
}

Error destination_not_empty(const std::string& label, std::string_view key) {
  return make_error(ExitCode::kUsage,
                    label + ": holds keys under the selection's names (e.g. \"" + printable_short(key) +
                        "\"): a live run makes the destination an exact replica of the selection; add "
                        "--replace to overwrite them (nothing was written)");
}

Status live_preflight(net::Loop& loop, engine::RunSpec& pass, bool /*source_cluster*/,
                      const std::vector<engine::SourceNode>& /*sources*/,
                      const engine::Destination& destination, engine::CopyOptions& engine_options) {
  if (!pass.options.live.enabled) return {};
  // The option checks refused merge and fail: the policy is skip (the default) or --replace.
  const bool replace = pass.options.conflict == engine::ConflictPolicy::kReplace;
  pass.options.conflict = engine::ConflictPolicy::kReplace;
  engine_options.conflict = engine::ConflictPolicy::kReplace;

  auto old = interrupted_run(loop, pass);
  if (!old) return old.error();
  const bool resumed = old->has_value();
  if (resumed) {
    const state::RunRecord& r = **old;
    spdlog::warn(
        "a live run was interrupted (run {}, {} when it stopped, saved at {}): resyncing instead of trusting "
        "its checkpoint",
        r.id, r.status, state::iso_utc_ms(r.updated_ms));
  } else if (!replace) {
    auto found = first_target_key(loop, destination, pass.options.selection);
    if (!found) return found.error();
    if (*found) return destination_not_empty(pass.destination.label, **found);
  }
  if (resumed || replace) {
    pass.options.live.resync_first = true;
    engine_options.live.resync_first = true;
  }
  return {};
}

}  // namespace rmig::copy
