// OPC UA binary encoding (Part 6, 5.2) of the built-in types Doppel's client needs.
//
// Encoder appends little-endian bytes to a std::string. Decoder reads from a byte view and
// never reads past it: every read is bounds-checked and a failure returns kInvalidArgument
// naming the field and the byte offset, e.g. "ReadResponse.Results: truncated at offset 57
// (need 8 bytes, 3 left)". Caps keep hostile input cheap: arrays hold at most kMaxArrayLength
// elements and never more than the bytes left, strings at most kMaxStringBytes, and Variant /
// DataValue / DiagnosticInfo / ExtensionObject nest at most kMaxNestingDepth deep.
//
// DateTime is int64 100 ns ticks since 1601-01-01 UTC; UaTicksToNs / NsToUaTicks convert to
// Doppel's ns since the Unix epoch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::ingest::opcua {

constexpr int32_t kMaxArrayLength = 1 << 20;
constexpr int32_t kMaxStringBytes = 16 << 20;
constexpr int kMaxNestingDepth = 16;

constexpr int64_t kUnixEpochUaTicks = 116444736000000000;  // 1970-01-01 in ticks since 1601
// Ns since the epoch; nullopt ("no timestamp": the caller falls back to another clock) for
// ticks <= 0 (the spec's "no time"), INT64_MAX (its "max"/no time), times before 1970 and times
// after the last int64 ns (2262-04-11), none of which fit TimeNs.
std::optional<TimeNs> UaTicksToNs(int64_t ticks);
int64_t NsToUaTicks(TimeNs ns);

// NodeId: namespace index + numeric, string, GUID (16 raw bytes) or opaque identifier.
struct NodeId {
  enum class Kind : uint8_t { kNumeric, kString, kGuid, kOpaque };
  uint16_t ns = 0;
  Kind kind = Kind::kNumeric;
  uint32_t numeric = 0;
  std::string text;  // kString: UTF-8; kGuid: 16 bytes as encoded; kOpaque: bytes

  static NodeId Numeric(uint16_t ns, uint32_t id) { return NodeId{ns, Kind::kNumeric, id, {}}; }
  static NodeId String(uint16_t ns, std::string s) { return NodeId{ns, Kind::kString, 0, std::move(s)}; }
  // The text form of Part 6, 5.3.1.10: "i=85", "ns=1;s=Pump1.Flow", "ns=2;g=<guid>", "ns=1;b=<base64>".
  static Result<NodeId> Parse(std::string_view text);
  std::string ToString() const;
  bool IsNull() const { return ns == 0 && kind == Kind::kNumeric && numeric == 0; }
  bool operator==(const NodeId&) const = default;
};

struct ExpandedNodeId {
  NodeId node;
  std::string namespace_uri;  // empty: none
  uint32_t server_index = 0;
  bool operator==(const ExpandedNodeId&) const = default;
};

struct QualifiedName {
  uint16_t ns = 0;
  std::string name;
  bool operator==(const QualifiedName&) const = default;
};

struct LocalizedText {
  std::string locale, text;  // empty: absent
  bool operator==(const LocalizedText&) const = default;
};

// A structure kept in its encoded form: `body` holds the binary (encoding 1) or XML (2) bytes.
struct ExtensionObject {
  NodeId type_id;
  uint8_t encoding = 0;  // 0: no body
  std::string body;
  bool operator==(const ExtensionObject&) const = default;
};

// Built-in type ids (Part 6, 5.1.2), also the Variant encoding mask's low 6 bits.
enum class BuiltinType : uint8_t {
  kNull = 0,
  kBoolean,
  kSByte,
  kByte,
  kInt16,
  kUInt16,
  kInt32,
  kUInt32,
  kInt64,
  kUInt64,
  kFloat,
  kDouble,
  kString,
  kDateTime,
  kGuid,
  kByteString,
  kXmlElement,
  kNodeId,
  kExpandedNodeId,
  kStatusCode,
  kQualifiedName,
  kLocalizedText,
  kExtensionObject,
  kDataValue,
  kVariant,
  kDiagnosticInfo,
};
const char* BuiltinTypeName(BuiltinType t);

// One scalar of a Variant. Signed integers and DateTime (ticks) are int64_t, unsigned ones and
// StatusCode uint64_t, Float/Double double, String/ByteString/XmlElement/Guid std::string; a
// nested DataValue, Variant or DiagnosticInfo is kept as its encoded bytes (std::string).
using Scalar = std::variant<std::monostate, bool, int64_t, uint64_t, double, std::string, NodeId,
                            ExpandedNodeId, QualifiedName, LocalizedText, ExtensionObject>;

struct Variant {
  BuiltinType type = BuiltinType::kNull;
  bool is_array = false;
  std::vector<Scalar> values;       // one element when a scalar; empty for kNull
  std::vector<int32_t> dimensions;  // matrix dimensions; empty for a plain array

  static Variant Of(BuiltinType type, Scalar v) { return Variant{type, false, {std::move(v)}, {}}; }
  // The scalar as a double for Boolean, integer, Float and Double variants; nullopt otherwise.
  std::optional<double> AsDouble() const;
  bool operator==(const Variant&) const = default;
};

struct DataValue {
  std::optional<Variant> value;
  uint32_t status = 0;           // StatusCode; 0 = Good
  int64_t source_timestamp = 0;  // ticks; 0 = absent
  uint16_t source_picoseconds = 0;
  int64_t server_timestamp = 0;
  uint16_t server_picoseconds = 0;
  bool operator==(const DataValue&) const = default;
};

// StatusCode helpers (Part 4, 7.39): the top two bits give the severity.
inline bool IsGood(uint32_t s) { return (s & 0xC0000000u) == 0; }
inline bool IsBad(uint32_t s) { return (s & 0x80000000u) != 0; }
// "Good", "BadTypeMismatch", ... for the codes Doppel knows; "0x80AB0000" otherwise.
std::string StatusCodeName(uint32_t code);

class Encoder {
 public:
  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }
  size_t size() const { return out_.size(); }
  // Overwrites 4 bytes at `offset` (message sizes written after the body).
  void PatchUInt32(size_t offset, uint32_t v);

  void Boolean(bool v) { Byte(v ? 1 : 0); }
  void Byte(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void SByte(int8_t v) { Byte(static_cast<uint8_t>(v)); }
  void Int16(int16_t v) { UInt16(static_cast<uint16_t>(v)); }
  void UInt16(uint16_t v);
  void Int32(int32_t v) { UInt32(static_cast<uint32_t>(v)); }
  void UInt32(uint32_t v);
  void Int64(int64_t v) { UInt64(static_cast<uint64_t>(v)); }
  void UInt64(uint64_t v);
  void Float(float v);
  void Double(double v);
  void String(std::string_view v);  // empty encodes as length 0 (not null)
  void NullString() { Int32(-1); }
  void ByteString(std::string_view v) { String(v); }
  void Raw(std::string_view v) { out_.append(v); }
  void DateTime(int64_t ticks) { Int64(ticks); }
  void StatusCode(uint32_t v) { UInt32(v); }
  void NodeId(const opcua::NodeId& v);
  void ExpandedNodeId(const opcua::ExpandedNodeId& v);
  void QualifiedName(const opcua::QualifiedName& v);
  void LocalizedText(const opcua::LocalizedText& v);
  void ExtensionObject(const opcua::ExtensionObject& v);
  void Variant(const opcua::Variant& v);
  void DataValue(const opcua::DataValue& v);
  void ArrayLength(size_t n) { Int32(static_cast<int32_t>(n)); }
  void NullArray() { Int32(-1); }

 private:
  void Scalar(BuiltinType t, const opcua::Scalar& s);
  std::string out_;
};

class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}
  size_t offset() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  std::string_view Rest() const { return data_.substr(pos_); }

  Status Boolean(const char* field, bool* v);
  Status Byte(const char* field, uint8_t* v);
  Status SByte(const char* field, int8_t* v);
  Status Int16(const char* field, int16_t* v);
  Status UInt16(const char* field, uint16_t* v);
  Status Int32(const char* field, int32_t* v);
  Status UInt32(const char* field, uint32_t* v);
  Status Int64(const char* field, int64_t* v);
  Status UInt64(const char* field, uint64_t* v);
  Status Float(const char* field, float* v);
  Status Double(const char* field, double* v);
  Status String(const char* field, std::string* v);  // null (-1) reads as ""
  Status ByteString(const char* field, std::string* v) { return String(field, v); }
  Status DateTime(const char* field, int64_t* ticks) { return Int64(field, ticks); }
  Status StatusCode(const char* field, uint32_t* v) { return UInt32(field, v); }
  Status Guid(const char* field, std::string* v);  // 16 raw bytes
  Status Raw(const char* field, size_t n, std::string* v);
  Status NodeId(const char* field, opcua::NodeId* v);
  Status ExpandedNodeId(const char* field, opcua::ExpandedNodeId* v);
  Status QualifiedName(const char* field, opcua::QualifiedName* v);
  Status LocalizedText(const char* field, opcua::LocalizedText* v);
  Status ExtensionObject(const char* field, opcua::ExtensionObject* v);
  Status Variant(const char* field, opcua::Variant* v);
  Status DataValue(const char* field, opcua::DataValue* v);
  Status SkipDiagnosticInfo(const char* field);
  // An array length: -1 (null) reads as 0; rejects negative lengths below -1, more than
  // kMaxArrayLength and more elements than bytes left (each takes at least `min_elem_bytes`).
  Status ArrayLength(const char* field, size_t* n, size_t min_elem_bytes = 1);
  // Reads an array, calling each(i) for every element.
  template <typename F>
  Status Array(const char* field, F each, size_t min_elem_bytes = 1) {
    size_t n = 0;
    DOPPEL_RETURN_IF_ERROR(ArrayLength(field, &n, min_elem_bytes));
    for (size_t i = 0; i < n; ++i) DOPPEL_RETURN_IF_ERROR(each(i));
    return Status::Ok();
  }
  Status Error(const char* field, const std::string& what) const;

 private:
  Status Need(const char* field, size_t n);
  Status ScalarOf(const char* field, BuiltinType t, opcua::Scalar* s);
  Status NestedRaw(const char* field, Status (Decoder::*read)(const char*), std::string* raw);
  Status SkipVariant(const char* field);
  Status SkipDataValue(const char* field);
  Status Enter(const char* field);
  std::string_view data_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace doppel::ingest::opcua
