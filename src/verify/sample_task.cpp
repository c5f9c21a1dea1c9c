#include "verify/sample_task.hpp"

#include <algorithm>

namespace rmig::verify {

void SampleTask::start(uint32_t j) {
  const engine::Job& job = engine_->job(j);
  // A key SCAN returned before is not drawn twice (the filter's rare false positive only skips a key).
  if (!job.maybe_duplicate) {
    const uint64_t i = seen_++;
    if (picks_.size() < size_) {
      picks_.push_back(Pick{job.node, job.key});
    } else {
      // The i-th key (0-based) replaces a random pick with probability size / (i + 1).
      const uint64_t r = std::uniform_int_distribution<uint64_t>(0, i)(rng_);
      if (r < size_) picks_[r] = Pick{job.node, job.key};
    }
  }
  engine_->done(j);
}

std::vector<std::vector<std::string>> SampleTask::take(std::size_t nodes) {
  std::vector<std::vector<std::string>> out(std::max<std::size_t>(nodes, 1));
  for (auto& p : picks_)
    out[p.node < out.size() ? p.node : 0].push_back(std::move(p.key));
  picks_.clear();
  for (auto& keys : out) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  }
  return out;
}

}  // namespace rmig::verify
