#include "copy/temp_key.hpp"

#include <doctest/doctest.h>

#include <string>

#include "cluster/slot.hpp"

using namespace rmig;

TEST_CASE("a temporary key lives in its target's slot, whatever the target's name") {
  const std::string targets[] = {
      "plain",    "{user:1}:profile", "a}b", "{}x", "x{}y{z}", "{{a}}", "", "tt:town:agent:7",
      "k\r\n\0z", "{tenant:7}:dests"};
  for (const auto& t : targets) {
    CAPTURE(t);
    const std::string tmp = copy::temp_key(t, "redis-migrate:", "run1:42");
    CHECK(cluster::key_hash_slot(tmp) == cluster::key_hash_slot(t));
    CHECK(tmp.find("redis-migrate:tmp:run1:42") != std::string::npos);
  }
  for (uint16_t slot : {uint16_t{0}, uint16_t{1}, uint16_t{12182}, uint16_t{16383}}) {
    CHECK(cluster::key_hash_slot(copy::slot_tag(slot)) == slot);
  }
}
