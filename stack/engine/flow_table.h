// FlowTable: four-tuple -> socket slot for every connection of one engine. Open
// addressing, linear probing, backward-shift deletion, sized once (twice the limit,
// a power of two): no allocation after construction, load factor <= 1/2.
// Invariant: size() <= limit(); a key appears at most once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "stack/wire/addresses.h"

namespace utcp::stack::engine {

class FlowTable {
 public:
  explicit FlowTable(std::size_t limit);

  // The value stored for `tuple`, if any.
  std::optional<std::uint32_t> find(const wire::FourTuple& tuple) const;
  // False when the tuple is already present or the table holds limit() entries.
  bool insert(const wire::FourTuple& tuple, std::uint32_t value);
  // False when the tuple was not present.
  bool erase(const wire::FourTuple& tuple);

  std::size_t size() const { return size_; }
  std::size_t limit() const { return limit_; }

 private:
  struct Slot {
    wire::FourTuple key;
    std::uint32_t value = 0;
    bool used = false;
  };

  std::size_t home(const wire::FourTuple& tuple) const;
  // Index of the slot holding `tuple`, or of the empty slot ending its probe run.
  std::size_t probe(const wire::FourTuple& tuple) const;

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t limit_ = 0;
  std::size_t size_ = 0;
};

}  // namespace utcp::stack::engine
