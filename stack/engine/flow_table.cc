// FlowTable: linear probing; deletion shifts later members of the probe run back
// (Knuth 6.4, algorithm R) so no tombstones accumulate under connection churn.
#include "stack/engine/flow_table.h"

#include <bit>

namespace utcp::stack::engine {

FlowTable::FlowTable(std::size_t limit) : limit_(limit) {
  // At least one empty slot must always exist, or probe() would never stop.
  const std::size_t capacity = std::bit_ceil(limit * 2 + 2);
  slots_.resize(capacity);
  mask_ = capacity - 1;
}

std::size_t FlowTable::home(const wire::FourTuple& tuple) const {
  return wire::FourTupleHash{}(tuple) & mask_;
}

std::size_t FlowTable::probe(const wire::FourTuple& tuple) const {
  std::size_t i = home(tuple);
  while (slots_[i].used && !(slots_[i].key == tuple)) {
    i = (i + 1) & mask_;
  }
  return i;
}

std::optional<std::uint32_t> FlowTable::find(const wire::FourTuple& tuple) const {
  const Slot& slot = slots_[probe(tuple)];
  if (!slot.used) {
    return std::nullopt;
  }
  return slot.value;
}

bool FlowTable::insert(const wire::FourTuple& tuple, std::uint32_t value) {
  const std::size_t i = probe(tuple);
  if (slots_[i].used || size_ >= limit_) {
    return false;
  }
  slots_[i] = Slot{tuple, value, true};
  ++size_;
  return true;
}

bool FlowTable::erase(const wire::FourTuple& tuple) {
  std::size_t hole = probe(tuple);
  if (!slots_[hole].used) {
    return false;
  }
  slots_[hole].used = false;
  --size_;
  // Move back every later member of the run that may legally sit in the hole:
  // one whose home is not cyclically within (hole, j].
  for (std::size_t j = (hole + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
    const std::size_t h = home(slots_[j].key);
    const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (!stays) {
      slots_[hole] = slots_[j];
      slots_[j].used = false;
      hole = j;
    }
  }
  return true;
}

}  // namespace utcp::stack::engine
