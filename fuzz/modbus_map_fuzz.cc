// libFuzzer target: Modbus register decoding and encoding. Bytes choose a type, a word order,
// scale/offset and register contents. Decoding must never crash; encoding a decoded value must
// give back registers that decode to the same value (exactly, for unit scale and zero offset),
// and PlanReads must cover every span exactly once within the request limits.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "doppel/ingest/modbus_map.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace doppel::ingest;
  if (size < 6) return 0;
  const auto type = static_cast<ModbusType>(data[0] % 6);
  const auto order = data[1] % 2 ? WordOrder::kLittleEndian : WordOrder::kBigEndian;
  const uint16_t regs[2] = {static_cast<uint16_t>(data[2] << 8 | data[3]),
                            static_cast<uint16_t>(data[4] << 8 | data[5])};
  RegisterFormat f{type, order, 1.0, 0.0};
  auto v = DecodeRegisters(std::span<const uint16_t>(regs, static_cast<size_t>(RegisterCount(type))), f);
  if (!v.ok()) __builtin_trap();  // unit format and the right count always decode
  if (std::isfinite(*v)) {
    auto back = EncodeRegisters(*v, f);
    if (!back.ok()) __builtin_trap();
    auto again = DecodeRegisters(*back, f);
    if (!again.ok() || *again != *v) __builtin_trap();
  }
  if (size >= 22) {  // arbitrary scale/offset: must not crash, errors allowed
    double scale, offset;
    std::memcpy(&scale, data + 6, 8);
    std::memcpy(&offset, data + 14, 8);
    RegisterFormat g{type, order, scale, offset};
    auto d = DecodeRegisters(std::span<const uint16_t>(regs, static_cast<size_t>(RegisterCount(type))), g);
    if (d.ok()) (void)EncodeRegisters(*d, g);
  }
  std::vector<AddressSpan> spans;
  for (size_t i = 6; i + 3 <= size && spans.size() < 64; i += 3)
    spans.push_back(
        {static_cast<ModbusTable>(data[i] % 4), data[i + 1] << 8 | data[i + 2], 1 + data[i] / 64});
  auto blocks = PlanReads(spans, 125, 2000, data[1] % 8);
  std::vector<int> seen(spans.size(), 0);
  for (const auto& b : blocks) {
    if (b.count > (IsBitTable(b.table) ? 2000 : 125)) __builtin_trap();
    for (size_t i : b.points) {
      const auto& s = spans[i];
      if (s.table != b.table || s.address < b.start || s.address + s.count > b.start + b.count)
        __builtin_trap();
      ++seen[i];
    }
  }
  for (int c : seen)
    if (c != 1) __builtin_trap();
  return 0;
}
