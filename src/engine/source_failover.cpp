// A source node continuing on another server (Links found it: a cluster failover, or a new server behind the
// node's address). The node's links move to the new one: the jobs parked on the old links are sent again
// there, every job still reading or deleting through an old link goes there from now on, and its scan starts
// again from the beginning (a SCAN cursor means nothing on another server; keys met again are the seen
// filter's duplicates). docs/internals.md ("Source failovers") has the reasoning.
#include <spdlog/spdlog.h>

#include "engine/engine.hpp"
#include "engine/live.hpp"

namespace rmig::engine {

void Engine::source_identified(uint32_t link, const std::string& run_id) {
  for (uint32_t n = 0; n < sources_.size(); ++n) {
    if (read_link_[n] != link || !sources_[n]->identify(run_id)) continue;
    // A resumed checkpoint's cursor, and the server now behind the node is not the one it belongs to (it
    // restarted, failed over or moved while no run watched), or one of them cannot say.
    spdlog::info(
        "source node {}: the checkpoint's scan position belongs to another server (this one: {}): the node "
        "is scanned again from the beginning",
        sources_[n]->name(), run_id.empty() ? std::string("INFO refused") : "run_id " + run_id);
    source_failed_over(n, link, "new server");
  }
}

void Engine::source_failed_over(uint32_t node, uint32_t link, const std::string& cause) {
  if (finished_ || node >= sources_.size()) return;
  const uint32_t old_read = read_link_[node];
  const uint32_t old_write = write_link_[node];
  read_link_[node] = link;
  // A new server behind a replica read link leaves the deletions with the node's primary (its own link).
  if (cause != "new server" || old_write == old_read) write_link_[node] = link;
  const uint32_t new_write = write_link_[node];
  if (old_read != link || old_write != new_write) {
    for (JobSlot& slot : slots_) {
      if (!slot.job.active) continue;
      const bool both = new_write == link;  // reads and deletions move to one server
      if (slot.read_link == old_read || (both && slot.read_link == old_write)) slot.read_link = link;
      if (slot.write_link == old_write || (both && slot.write_link == old_read)) slot.write_link = new_write;
    }
    for (const uint32_t old : {old_read, old_write}) {
      if (old == link || old == new_write) continue;
      for (uint32_t j : links_.take_parked(old)) {
        if (!slots_[j].job.active) continue;
        if (links_.usable(link)) {
          resend_job(j);
        } else {
          links_.park(j, link);  // sent once the new primary's link is up
        }
      }
    }
    if (live_) live_->source_moved(node, old_read, old_write, link);
  }
  // The scan position is lost only when the reads go to another server: a new primary, or a new server at
  // the old address. (Reading from a replica that was promoted keeps its position: only the deletions move.)
  const bool rescan = !stopping_ && (old_read != link || cause == "new server") && sources_[node]->restart();
  const std::string& primary = links_[link].name;
  failovers_.push_back(report::SourceFailover{sources_[node]->name(), primary, cause, rescan});
  spdlog::warn("source node {}: {}: continuing on {}{}", sources_[node]->name(), cause, primary,
               rescan ? ", its scan starts again from the beginning there (keys met again are counted as "
                        "duplicates, not copied twice)"
                      : " (its scan had listed every key: the keys in flight are read there)");
  if (on_progress_) on_progress_();  // the checkpoint's cursor for the node went back to the beginning
  pump();
}

}  // namespace rmig::engine
