#pragma once
// verify --sample N, first pass: a uniform random sample of N keys of the selection, drawn while the engine
// scans (reservoir sampling, Algorithm R), so memory holds N keys whatever the size of the keyspace. It sends
// no command per key; the second pass checks the sample (Engine::take_keys).
//
// RANDOMKEY is not used: managed services may forbid it, it ignores the selection, and it returns a key
// repeatedly on small keyspaces.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace rmig::verify {

class SampleTask final : public engine::KeyTask {
 public:
  SampleTask(uint64_t size, uint64_t seed) : size_(size), rng_(seed) {}

  void attach(engine::Engine& engine) override { engine_ = &engine; }
  void start(uint32_t j) override;
  void on_reply(uint32_t /*j*/, uint8_t /*op*/, resp::Reply /*reply*/) override {}
  void resend(uint32_t j) override { start(j); }
  void give_up(uint32_t j) override { engine_->abandon(j); }

  // Keys seen in the selection.
  uint64_t population() const noexcept { return seen_; }
  // The sample, per source node (`nodes` lists, in the sources' order), each list without duplicates.
  std::vector<std::vector<std::string>> take(std::size_t nodes);

 private:
  struct Pick {
    uint32_t node;
    std::string key;
  };
  engine::Engine* engine_ = nullptr;
  uint64_t size_;
  uint64_t seen_ = 0;
  std::mt19937_64 rng_;
  std::vector<Pick> picks_;
};

}  // namespace rmig::verify
