#pragma once
// A bound on the size of every key of a source node, read once at start, so that a node which cannot hold a
// key over --big-key-threshold is not sized key by key (no MEMORY USAGE per key).
//
// Two proofs, the tighter one wins:
//  - INFO memory's used_memory_dataset: no key is bigger than the whole dataset;
//  - INFO keysizes (Redis >= 8): per database, a histogram of string lengths in power-of-two buckets and of
//    collections' element counts. When every key of every database is a string of the histogram (the counts
//    add up to INFO keyspace's keys=, so no list, set, sorted set, hash, stream or module key is there),
//    no key is longer than twice the largest bucket's lower bound. Collections are never bounded this way:
//    an element count says nothing of the elements' sizes.
// Both are readings at start: a key written during the copy is not covered (as with used_memory_dataset).

#include <cstdint>
#include <string_view>

#include "net/loop.hpp"
#include "resp/connection.hpp"

namespace rmig::engine {

// From the texts of INFO keysizes and INFO keyspace: the largest string length possible when every key is a
// string of the histogram, else 0 (no bound: a collection, a key the histogram does not count, no keysizes
// section, or no key at all).
uint64_t keysizes_string_bound(std::string_view keysizes, std::string_view keyspace);

// The bound of a source node (0: none known): min of used_memory_dataset and the keysizes bound, each read
// with INFO on `c` (a refused INFO gives no bound).
uint64_t key_size_bound(net::Loop& loop, resp::Connection& c);

}  // namespace rmig::engine
