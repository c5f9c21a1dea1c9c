#pragma once
// The checks a live run (--live) makes against the servers after its commands are probed and before its lock
// and first write (the option-only refusals come earlier, in the command line's checks). Nothing here writes
// a key, except the notification proof's probe keys on the source (under the state prefix, short TTLs).
//
// 1. The conflict policy is replace for the run (the engine's options and the fingerprint of its record):
//    a live run makes the selected destination keyspace an exact replica of the selected source keys.
// 2. A live run killed or stopped before its cut-over (a record of the same fingerprint that did not finish)
//    is resumed with a resync (options.live.resync_first), never from its checkpoint: the changes made while
//    no run listened are known only by comparing. --restart ignores that record.
// 3. A destination that holds keys under the selection's target names (a SCAN of each destination primary,
//    each name renamed back to its source name and checked against the selection; the first one found
//    stops the scan) is refused with exit code 2, unless --replace was given or the run resumes a live run:
//    --replace then makes the bulk copy a resync too, so destination keys whose source key is gone are
//    deleted.
// 4. Unless --assume-notifications, every source primary proves it sends the keyspace notifications the
//    run needs (engine::prove_notifications).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "engine/run_spec.hpp"
#include "net/loop.hpp"
#include "select/selection.hpp"
#include "util/result.hpp"

namespace rmig::copy {

// Does nothing unless pass.options.live.enabled. `pass`: the pass's run spec (its options give the record's
// fingerprint: their conflict policy is set to replace); `engine_options`: the options the engine will run
// with (conflict policy, live.resync_first).
Status live_preflight(net::Loop& loop, engine::RunSpec& pass, bool source_cluster,
                      const std::vector<engine::SourceNode>& sources, const engine::Destination& destination,
                      engine::CopyOptions& engine_options);

// The source key whose copy a destination key `name` would be, when that source key is selected: the name
// renamed back (prefix rules only) and checked against the selection by name (the tool's prefix, --match,
// --exclude, in place renamed keys only). nullopt: no selected key is copied under this name.
std::optional<std::string> selected_source(const select::Selection& selection, std::string_view name);

// The refusal of a destination holding `key` under the selection's names (exit code 2).
Error destination_not_empty(const std::string& label, std::string_view key);

}  // namespace rmig::copy
