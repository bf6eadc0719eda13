// Modbus register mapping: the pure part of the Modbus adapter (docs/modbus.md).
//
// Decodes the 16-bit registers (or bits) of one point into an engineering value and encodes a
// value back into registers for writes. No I/O: everything here is a function of its inputs,
// so it is unit-tested with exact values and fuzzed (fuzz/modbus_map_fuzz.cc).
//
//   value = raw * scale + offset          raw = (value - offset) / scale   (writes)
//
// 32-bit types span two consecutive registers. Word order kBigEndian ("ABCD") puts the high
// word in the lower address (the Modbus convention); kLittleEndian ("CDAB", "word swapped")
// puts the low word first. Bytes inside a register are always big-endian, as on the wire.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::ingest {

// The four Modbus data tables.
enum class ModbusTable {
  kHolding,   // 4xxxx: read/write 16-bit registers (function codes 3, 6, 16)
  kInput,     // 3xxxx: read-only 16-bit registers (function code 4)
  kCoil,      // 0xxxx: read/write bits (function codes 1, 5, 15)
  kDiscrete,  // 1xxxx: read-only bits (function code 2)
};
enum class ModbusType { kBool, kInt16, kUint16, kInt32, kUint32, kFloat32 };
enum class WordOrder { kBigEndian, kLittleEndian };

const char* ModbusTableName(ModbusTable t);  // "holding" | "input" | "coil" | "discrete"
const char* ModbusTypeName(ModbusType t);    // "bool" | "int16" | "uint16" | "int32" | "uint32" | "float32"
const char* WordOrderName(WordOrder w);      // "big" | "little"
// Parsers accept the names above; word order also accepts "ABCD" (big) and "CDAB" (little).
// The error lists the accepted names.
Result<ModbusTable> ParseModbusTable(std::string_view s);
Result<ModbusType> ParseModbusType(std::string_view s);
Result<WordOrder> ParseWordOrder(std::string_view s);

inline bool IsBitTable(ModbusTable t) { return t == ModbusTable::kCoil || t == ModbusTable::kDiscrete; }
// Registers a value of `type` occupies: 1 for bool/int16/uint16, 2 for the 32-bit types.
int RegisterCount(ModbusType type);

// How one point is laid out and scaled. scale must be finite and non-zero, offset finite.
struct RegisterFormat {
  ModbusType type = ModbusType::kUint16;
  WordOrder word_order = WordOrder::kBigEndian;
  double scale = 1.0;
  double offset = 0.0;
};

// The raw (unscaled) number held in `regs` (exactly RegisterCount(type) entries; bool reads
// regs[0] != 0). InvalidArgument for a wrong register count.
Result<double> DecodeRaw(std::span<const uint16_t> regs, ModbusType type, WordOrder order);
// DecodeRaw, then raw * scale + offset.
Result<double> DecodeRegisters(std::span<const uint16_t> regs, const RegisterFormat& format);

// Registers for engineering value `value`: raw = (value - offset) / scale, rounded to the
// nearest integer for the integer types (float32 rounds to the nearest float). InvalidArgument
// when the value is not finite or raw does not fit the type (e.g. 70000 as uint16), naming the
// value and the range.
Result<std::vector<uint16_t>> EncodeRegisters(double value, const RegisterFormat& format);

// One contiguous read: `count` registers (or bits) of `table` starting at `start`.
struct ReadBlock {
  ModbusTable table = ModbusTable::kHolding;
  int start = 0;
  int count = 0;
  std::vector<size_t> points;  // indices into the planned spans, in address order
};

// A span of addresses one point needs.
struct AddressSpan {
  ModbusTable table = ModbusTable::kHolding;
  int address = 0;  // 0-based protocol address
  int count = 1;    // registers (or bits)
};

// Groups spans into as few contiguous reads as possible: spans of the same table whose
// addresses touch or overlap, or are separated by a gap of at most `max_gap` unread addresses,
// share a block, as long as the block stays within max_registers (register tables) or max_bits
// (bit tables). Blocks are ordered by table, then address. Every span must fit a block alone.
std::vector<ReadBlock> PlanReads(const std::vector<AddressSpan>& spans, int max_registers = 125,
                                 int max_bits = 2000, int max_gap = 0);

}  // namespace doppel::ingest
