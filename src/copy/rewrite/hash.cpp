#include <algorithm>
#include <utility>

#include "copy/rewrite/translate.hpp"
#include "copy/ttl.hpp"

namespace rmig::copy::rewrite {

void field_ttl_query(std::string_view key, const redisReply* items, Writes& out) {
  out.begin();
  out.add("HPTTL");
  out.add(key);
  out.add("FIELDS");
  out.add_copy(std::to_string(items->elements / 2));
  for (std::size_t i = 0; i < items->elements; i += 2)
    out.add(resp::text(items->element[i]));
}

HashChunk translate_hash(const redisReply* items, const redisReply* ttls, const FieldTtlTarget& target,
                         std::string_view temp, Writes& out) {
  HashChunk chunk;
  if (ttls != nullptr && (!resp::is_array(ttls) || ttls->elements * 2 != items->elements)) {
    chunk.status = Chunk::Status::kMalformed;
    return chunk;
  }
  const bool absolute = target.clock != nullptr && target.clock->known();
  // Expiry (destination unix ms, or remaining ms when its clock is not known) -> field.
  std::vector<std::pair<int64_t, std::string_view>> expiring;
  const std::size_t first_command = out.size();
  out.begin();
  out.add("HSET");
  out.add(temp);
  for (std::size_t i = 0; i + 1 < items->elements; i += 2) {
    const std::string_view field = resp::text(items->element[i]);
    if (ttls != nullptr) {
      const redisReply* t = ttls->element[i / 2];
      if (!resp::is_integer(t)) {
        chunk.status = Chunk::Status::kMalformed;
        return chunk;
      }
      const TtlPlan plan = plan_ttl(t->integer, target.in_flight_ns);
      if (plan.kind == TtlPlan::Kind::kVanished) continue;  // deleted since HSCAN
      if (plan.kind == TtlPlan::Kind::kExpired) {
        ++chunk.fields_expired;
        continue;
      }
      if (plan.kind == TtlPlan::Kind::kExpiring) {
        if (!target.destination_has) {
          if (!target.drop) {
            chunk.status = Chunk::Status::kFieldTtlsRefused;
            return chunk;
          }
          chunk.dropped = true;
        } else {
          expiring.emplace_back(
              absolute ? target.clock->unix_ms_at(target.asked_at + std::chrono::milliseconds(t->integer))
                       : plan.restore_ttl_ms,
              field);
        }
      }
    }
    out.add_value(field);
    out.add_value(resp::text(items->element[i + 1]));
    ++chunk.elements;
  }
  chunk.bytes = out.bytes(first_command);
  if (chunk.elements == 0) {
    out.cancel();
    return chunk;
  }
  // Equal times share one command.
  std::sort(expiring.begin(), expiring.end());
  for (std::size_t i = 0; i < expiring.size();) {
    std::size_t k = i;
    while (k < expiring.size() && expiring[k].first == expiring[i].first)
      ++k;
    out.begin();
    out.add(absolute ? "HPEXPIREAT" : "HPEXPIRE");
    out.add(temp);
    out.add_copy(std::to_string(expiring[i].first));
    out.add("FIELDS");
    out.add_copy(std::to_string(k - i));
    for (std::size_t f = i; f < k; ++f)
      out.add(expiring[f].second);
    i = k;
  }
  chunk.expiring = !expiring.empty();
  return chunk;
}

}  // namespace rmig::copy::rewrite
