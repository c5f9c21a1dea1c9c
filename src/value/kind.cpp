#include "value/kind.hpp"

namespace rmig::value {

const char* kind_name(Kind k) noexcept { return name_of(kKindNames, k); }

Kind type_kind(std::string_view type) noexcept {
  if (type.empty() || type == "none") return Kind::kUnknown;
  const auto k = value_of(kKindNames, type);
  return k && builtin(*k) ? *k : Kind::kModule;
}

bool builtin(Kind k) noexcept { return k != Kind::kUnknown && k != Kind::kModule; }

bool mergeable(Kind k) noexcept { return k == Kind::kSet || k == Kind::kZset || k == Kind::kHash; }

const char* length_command(std::string_view type) noexcept {
  switch (type_kind(type)) {
    case Kind::kString: return "STRLEN";
    case Kind::kList: return "LLEN";
    case Kind::kSet: return "SCARD";
    case Kind::kZset: return "ZCARD";
    case Kind::kHash: return "HLEN";
    case Kind::kStream: return "XLEN";
    case Kind::kModule:
    case Kind::kUnknown: return nullptr;
  }
  return nullptr;
}

Kind payload_kind(std::string_view payload) noexcept {
  if (payload.empty()) return Kind::kUnknown;
  // RDB object types (rdb.h): the first byte of a DUMP payload.
  switch (static_cast<unsigned char>(payload[0])) {
    case 0: return Kind::kString;
    case 1:   // list
    case 10:  // list ziplist
    case 14:  // list quicklist
    case 18:  // list quicklist 2
      return Kind::kList;
    case 2:   // set
    case 11:  // set intset
    case 20:  // set listpack
      return Kind::kSet;
    case 3:   // zset
    case 5:   // zset 2 (binary scores)
    case 12:  // zset ziplist
    case 17:  // zset listpack
      return Kind::kZset;
    case 4:   // hash
    case 9:   // hash zipmap
    case 13:  // hash ziplist
    case 16:  // hash listpack
    case 22:  // hash with field TTLs (Valkey 9; Redis 7.4 release candidates)
    case 23:  // hash listpack with field TTLs (Redis 7.4 release candidates)
    case 24:  // hash with field TTLs (Redis >= 7.4)
    case 25:  // hash listpack with field TTLs (Redis >= 7.4)
      return Kind::kHash;
    case 15:  // stream listpacks
    case 19:  // stream listpacks 2
    case 21:  // stream listpacks 3
      return Kind::kStream;
    case 6:
    case 7: return Kind::kModule;
    default: return Kind::kUnknown;
  }
}

bool payload_has_field_ttls(std::string_view payload) noexcept {
  if (payload.empty()) return false;
  const auto type = static_cast<unsigned char>(payload[0]);
  return type >= 22 && type <= 25;
}

}  // namespace rmig::value
