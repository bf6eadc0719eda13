#include "doppel/ingest/modbus_map.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

namespace doppel::ingest {

const char* ModbusTableName(ModbusTable t) {
  switch (t) {
    case ModbusTable::kHolding: return "holding";
    case ModbusTable::kInput: return "input";
    case ModbusTable::kCoil: return "coil";
    case ModbusTable::kDiscrete: return "discrete";
  }
  return "?";
}

const char* ModbusTypeName(ModbusType t) {
  switch (t) {
    case ModbusType::kBool: return "bool";
    case ModbusType::kInt16: return "int16";
    case ModbusType::kUint16: return "uint16";
    case ModbusType::kInt32: return "int32";
    case ModbusType::kUint32: return "uint32";
    case ModbusType::kFloat32: return "float32";
  }
  return "?";
}

const char* WordOrderName(WordOrder w) { return w == WordOrder::kBigEndian ? "big" : "little"; }

Result<ModbusTable> ParseModbusTable(std::string_view s) {
  for (ModbusTable t :
       {ModbusTable::kHolding, ModbusTable::kInput, ModbusTable::kCoil, ModbusTable::kDiscrete})
    if (s == ModbusTableName(t)) return t;
  return InvalidArgument("unknown table '" + std::string(s) +
                         "' (expected holding, input, coil or discrete)");
}

Result<ModbusType> ParseModbusType(std::string_view s) {
  for (ModbusType t : {ModbusType::kBool, ModbusType::kInt16, ModbusType::kUint16, ModbusType::kInt32,
                       ModbusType::kUint32, ModbusType::kFloat32})
    if (s == ModbusTypeName(t)) return t;
  return InvalidArgument("unknown type '" + std::string(s) +
                         "' (expected bool, int16, uint16, int32, uint32 or float32)");
}

Result<WordOrder> ParseWordOrder(std::string_view s) {
  if (s == "big" || s == "ABCD") return WordOrder::kBigEndian;
  if (s == "little" || s == "CDAB") return WordOrder::kLittleEndian;
  return InvalidArgument("unknown word_order '" + std::string(s) + "' (expected big/ABCD or little/CDAB)");
}

int RegisterCount(ModbusType type) {
  switch (type) {
    case ModbusType::kInt32:
    case ModbusType::kUint32:
    case ModbusType::kFloat32: return 2;
    default: return 1;
  }
}

namespace {

uint32_t Join(std::span<const uint16_t> r, WordOrder order) {
  uint32_t hi = order == WordOrder::kBigEndian ? r[0] : r[1];
  uint32_t lo = order == WordOrder::kBigEndian ? r[1] : r[0];
  return (hi << 16) | lo;
}

std::vector<uint16_t> Split(uint32_t v, WordOrder order) {
  auto hi = static_cast<uint16_t>(v >> 16), lo = static_cast<uint16_t>(v & 0xFFFF);
  if (order == WordOrder::kBigEndian) return {hi, lo};
  return {lo, hi};
}

Status CheckFormat(const RegisterFormat& f) {
  if (!std::isfinite(f.scale) || f.scale == 0) return InvalidArgument("scale must be finite and non-zero");
  if (!std::isfinite(f.offset)) return InvalidArgument("offset must be finite");
  return Status::Ok();
}

}  // namespace

Result<double> DecodeRaw(std::span<const uint16_t> regs, ModbusType type, WordOrder order) {
  if (static_cast<int>(regs.size()) != RegisterCount(type)) {
    return InvalidArgument(std::string(ModbusTypeName(type)) + " needs " +
                           std::to_string(RegisterCount(type)) + " register(s), got " +
                           std::to_string(regs.size()));
  }
  switch (type) {
    case ModbusType::kBool: return regs[0] != 0 ? 1.0 : 0.0;
    case ModbusType::kInt16: return static_cast<double>(static_cast<int16_t>(regs[0]));
    case ModbusType::kUint16: return static_cast<double>(regs[0]);
    case ModbusType::kInt32: return static_cast<double>(static_cast<int32_t>(Join(regs, order)));
    case ModbusType::kUint32: return static_cast<double>(Join(regs, order));
    case ModbusType::kFloat32: return static_cast<double>(std::bit_cast<float>(Join(regs, order)));
  }
  return Internal("unreachable modbus type");
}

Result<double> DecodeRegisters(std::span<const uint16_t> regs, const RegisterFormat& format) {
  DOPPEL_RETURN_IF_ERROR(CheckFormat(format));
  auto raw = DecodeRaw(regs, format.type, format.word_order);
  if (!raw.ok()) return raw.status();
  return *raw * format.scale + format.offset;
}

Result<std::vector<uint16_t>> EncodeRegisters(double value, const RegisterFormat& format) {
  DOPPEL_RETURN_IF_ERROR(CheckFormat(format));
  if (!std::isfinite(value)) return InvalidArgument("value is not finite");
  const double raw = (value - format.offset) / format.scale;
  if (format.type == ModbusType::kFloat32) {
    if (std::fabs(raw) > std::numeric_limits<float>::max())
      return InvalidArgument("value " + std::to_string(value) + " is out of the float32 range");
    return Split(std::bit_cast<uint32_t>(static_cast<float>(raw)), format.word_order);
  }
  const double r = std::nearbyint(raw);
  double lo = 0, hi = 0;
  switch (format.type) {
    case ModbusType::kBool: lo = 0, hi = 1; break;
    case ModbusType::kInt16: lo = -32768, hi = 32767; break;
    case ModbusType::kUint16: lo = 0, hi = 65535; break;
    case ModbusType::kInt32: lo = -2147483648.0, hi = 2147483647.0; break;
    case ModbusType::kUint32: lo = 0, hi = 4294967295.0; break;
    case ModbusType::kFloat32: break;
  }
  if (r < lo || r > hi) {
    return InvalidArgument("value " + std::to_string(value) + " gives raw " + std::to_string(r) +
                           ", outside the " + ModbusTypeName(format.type) + " range [" +
                           std::to_string(static_cast<int64_t>(lo)) + ", " +
                           std::to_string(static_cast<int64_t>(hi)) + "]");
  }
  switch (format.type) {
    case ModbusType::kBool:
    case ModbusType::kUint16: return std::vector<uint16_t>{static_cast<uint16_t>(r)};
    case ModbusType::kInt16: return std::vector<uint16_t>{static_cast<uint16_t>(static_cast<int16_t>(r))};
    case ModbusType::kInt32:
      return Split(static_cast<uint32_t>(static_cast<int32_t>(static_cast<int64_t>(r))), format.word_order);
    case ModbusType::kUint32: return Split(static_cast<uint32_t>(static_cast<int64_t>(r)), format.word_order);
    case ModbusType::kFloat32: break;
  }
  return Internal("unreachable modbus type");
}

std::vector<ReadBlock> PlanReads(const std::vector<AddressSpan>& spans, int max_registers, int max_bits,
                                 int max_gap) {
  std::vector<size_t> order(spans.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (spans[a].table != spans[b].table) return spans[a].table < spans[b].table;
    return spans[a].address < spans[b].address;
  });
  std::vector<ReadBlock> blocks;
  for (size_t i : order) {
    const AddressSpan& s = spans[i];
    const int limit = IsBitTable(s.table) ? max_bits : max_registers;
    const int64_t end = int64_t{s.address} + s.count;
    if (!blocks.empty()) {
      ReadBlock& b = blocks.back();
      const int64_t b_end = int64_t{b.start} + b.count;
      const int64_t new_end = std::max(b_end, end);
      if (b.table == s.table && s.address <= b_end + max_gap && new_end - b.start <= limit) {
        b.count = static_cast<int>(new_end - b.start);
        b.points.push_back(i);
        continue;
      }
    }
    blocks.push_back(ReadBlock{s.table, s.address, s.count, {i}});
  }
  return blocks;
}

}  // namespace doppel::ingest
