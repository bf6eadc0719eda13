#include "doppel/ingest/opcua/binary.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <limits>

namespace doppel::ingest::opcua {

std::optional<TimeNs> UaTicksToNs(int64_t ticks) {
  // ticks - kUnixEpochUaTicks neither overflows (ticks >= kUnixEpochUaTicks > 0) nor, after the
  // upper check, does the * 100.
  constexpr int64_t kMaxTicks = kUnixEpochUaTicks + std::numeric_limits<TimeNs>::max() / 100;
  if (ticks < kUnixEpochUaTicks || ticks > kMaxTicks) return std::nullopt;  // includes <= 0, INT64_MAX
  return (ticks - kUnixEpochUaTicks) * 100;
}

int64_t NsToUaTicks(TimeNs ns) { return ns / 100 + kUnixEpochUaTicks; }

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(kB64[(v >> (6 * k)) & 63]);
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t v = uint8_t(in[i]) << 16 | (rest == 2 ? uint8_t(in[i + 1]) << 8 : 0);
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool Base64Decode(std::string_view in, std::string* out) {
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const char* p = std::strchr(kB64, c);
    if (c == '\0' || p == nullptr) return false;
    acc = (acc << 6) | uint32_t(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Guid text "01234567-89ab-cdef-0123-456789abcdef" <-> 16 encoded bytes (Data1..3 little-endian).
constexpr std::array<int, 16> kGuidByteOrder = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

bool ParseGuid(std::string_view s, std::string* out) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  std::array<uint8_t, 16> text_order{};
  size_t b = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '-') continue;
    int hi = HexDigit(s[i]), lo = i + 1 < s.size() ? HexDigit(s[i + 1]) : -1;
    if (hi < 0 || lo < 0) return false;
    text_order[b++] = uint8_t(hi * 16 + lo);
    ++i;
  }
  out->assign(16, '\0');
  for (size_t i = 0; i < 16; ++i) (*out)[kGuidByteOrder[i]] = static_cast<char>(text_order[i]);
  return true;
}

std::string FormatGuid(const std::string& g) {
  std::string out;
  for (size_t i = 0; i < 16 && g.size() == 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out += fmt::format("{:02x}", uint8_t(g[kGuidByteOrder[i]]));
  }
  return out;
}

}  // namespace

Result<NodeId> NodeId::Parse(std::string_view text) {
  auto bad = [&](const char* why) {
    return InvalidArgument(
        fmt::format("node id '{}': {} (expected e.g. 'ns=1;s=Pump1.Flow' or 'i=85')", text, why));
  };
  std::string_view s = text;
  NodeId id;
  if (s.substr(0, 3) == "ns=") {
    size_t semi = s.find(';');
    if (semi == std::string_view::npos) return bad("missing ';' after the namespace");
    uint32_t ns = 0;
    if (semi == 3 || semi > 8) return bad("bad namespace index");
    for (char c : s.substr(3, semi - 3)) {
      if (c < '0' || c > '9') return bad("bad namespace index");
      ns = ns * 10 + uint32_t(c - '0');
    }
    if (ns > 65535) return bad("namespace index above 65535");
    id.ns = static_cast<uint16_t>(ns);
    s.remove_prefix(semi + 1);
  }
  if (s.size() < 2 || s[1] != '=') return bad("expected i=, s=, g= or b=");
  std::string_view v = s.substr(2);
  switch (s[0]) {
    case 'i': {
      if (v.empty() || v.size() > 10) return bad("bad numeric identifier");
      uint64_t n = 0;
      for (char c : v) {
        if (c < '0' || c > '9') return bad("bad numeric identifier");
        n = n * 10 + uint64_t(c - '0');
      }
      if (n > UINT32_MAX) return bad("numeric identifier above 4294967295");
      id.kind = Kind::kNumeric;
      id.numeric = static_cast<uint32_t>(n);
      return id;
    }
    case 's':
      if (v.empty()) return bad("empty string identifier");
      id.kind = Kind::kString;
      id.text = std::string(v);
      return id;
    case 'g':
      id.kind = Kind::kGuid;
      if (!ParseGuid(v, &id.text)) return bad("bad GUID");
      return id;
    case 'b':
      id.kind = Kind::kOpaque;
      if (!Base64Decode(v, &id.text)) return bad("bad base64");
      return id;
    default: return bad("expected i=, s=, g= or b=");
  }
}

std::string NodeId::ToString() const {
  std::string out = ns ? fmt::format("ns={};", ns) : std::string();
  switch (kind) {
    case Kind::kNumeric: return out + fmt::format("i={}", numeric);
    case Kind::kString: return out + "s=" + text;
    case Kind::kGuid: return out + "g=" + FormatGuid(text);
    case Kind::kOpaque: return out + "b=" + Base64Encode(text);
  }
  return out;
}

const char* BuiltinTypeName(BuiltinType t) {
  static constexpr const char* kNames[] = {
      "Null",           "Boolean",       "SByte",         "Byte",          "Int16",           "UInt16",
      "Int32",          "UInt32",        "Int64",         "UInt64",        "Float",           "Double",
      "String",         "DateTime",      "Guid",          "ByteString",    "XmlElement",      "NodeId",
      "ExpandedNodeId", "StatusCode",    "QualifiedName", "LocalizedText", "ExtensionObject", "DataValue",
      "Variant",        "DiagnosticInfo"};
  size_t i = static_cast<size_t>(t);
  return i < std::size(kNames) ? kNames[i] : "Unknown";
}

std::optional<double> Variant::AsDouble() const {
  if (is_array || values.size() != 1) return std::nullopt;
  const opcua::Scalar& s = values[0];
  switch (type) {
    case BuiltinType::kBoolean: return std::get<bool>(s) ? 1.0 : 0.0;
    case BuiltinType::kSByte:
    case BuiltinType::kInt16:
    case BuiltinType::kInt32:
    case BuiltinType::kInt64: return static_cast<double>(std::get<int64_t>(s));
    case BuiltinType::kByte:
    case BuiltinType::kUInt16:
    case BuiltinType::kUInt32:
    case BuiltinType::kUInt64: return static_cast<double>(std::get<uint64_t>(s));
    case BuiltinType::kFloat:
    case BuiltinType::kDouble: return std::get<double>(s);
    default: return std::nullopt;
  }
}

std::string StatusCodeName(uint32_t code) {
  struct Entry {
    uint32_t code;
    const char* name;
  };
  // Values from Part 6's StatusCode.csv (checked against node-opcua-status-code).
  static constexpr Entry kCodes[] = {
      {0x00000000, "Good"},
      {0x002D0000, "GoodSubscriptionTransferred"},
      {0x002E0000, "GoodCompletesAsynchronously"},
      {0x002F0000, "GoodOverload"},
      {0x00A50000, "GoodNoData"},
      {0x00A60000, "GoodMoreData"},
      {0x40900000, "UncertainLastUsableValue"},
      {0x40910000, "UncertainSubstituteValue"},
      {0x40920000, "UncertainInitialValue"},
      {0x40930000, "UncertainSensorNotAccurate"},
      {0x80010000, "BadUnexpectedError"},
      {0x80020000, "BadInternalError"},
      {0x80030000, "BadOutOfMemory"},
      {0x80040000, "BadResourceUnavailable"},
      {0x80050000, "BadCommunicationError"},
      {0x80060000, "BadEncodingError"},
      {0x80070000, "BadDecodingError"},
      {0x80080000, "BadEncodingLimitsExceeded"},
      {0x800A0000, "BadTimeout"},
      {0x800B0000, "BadServiceUnsupported"},
      {0x800C0000, "BadShutdown"},
      {0x800D0000, "BadServerNotConnected"},
      {0x800E0000, "BadServerHalted"},
      {0x800F0000, "BadNothingToDo"},
      {0x80100000, "BadTooManyOperations"},
      {0x80130000, "BadSecurityChecksFailed"},
      {0x801F0000, "BadUserAccessDenied"},
      {0x80200000, "BadIdentityTokenInvalid"},
      {0x80210000, "BadIdentityTokenRejected"},
      {0x80220000, "BadSecureChannelIdInvalid"},
      {0x80240000, "BadNonceInvalid"},
      {0x80250000, "BadSessionIdInvalid"},
      {0x80260000, "BadSessionClosed"},
      {0x80270000, "BadSessionNotActivated"},
      {0x80280000, "BadSubscriptionIdInvalid"},
      {0x80310000, "BadNoCommunication"},
      {0x80320000, "BadWaitingForInitialData"},
      {0x80330000, "BadNodeIdInvalid"},
      {0x80340000, "BadNodeIdUnknown"},
      {0x80350000, "BadAttributeIdInvalid"},
      {0x80360000, "BadIndexRangeInvalid"},
      {0x80380000, "BadDataEncodingInvalid"},
      {0x803A0000, "BadNotReadable"},
      {0x803B0000, "BadNotWritable"},
      {0x803C0000, "BadOutOfRange"},
      {0x803D0000, "BadNotSupported"},
      {0x80420000, "BadMonitoredItemIdInvalid"},
      {0x80550000, "BadSecurityPolicyRejected"},
      {0x80560000, "BadTooManySessions"},
      {0x80570000, "BadUserSignatureInvalid"},
      {0x80730000, "BadWriteNotSupported"},
      {0x80740000, "BadTypeMismatch"},
      {0x80770000, "BadTooManySubscriptions"},
      {0x80780000, "BadTooManyPublishRequests"},
      {0x80790000, "BadNoSubscription"},
      {0x807A0000, "BadSequenceNumberUnknown"},
      {0x807D0000, "BadTcpServerTooBusy"},
      {0x807E0000, "BadTcpMessageTypeInvalid"},
      {0x807F0000, "BadTcpSecureChannelUnknown"},
      {0x80800000, "BadTcpMessageTooLarge"},
      {0x80810000, "BadTcpNotEnoughResources"},
      {0x80820000, "BadTcpInternalError"},
      {0x80830000, "BadTcpEndpointUrlInvalid"},
      {0x80850000, "BadRequestTimeout"},
      {0x80860000, "BadSecureChannelClosed"},
      {0x80870000, "BadSecureChannelTokenUnknown"},
      {0x80880000, "BadSequenceNumberInvalid"},
      {0x80890000, "BadConfigurationError"},
      {0x808B0000, "BadDeviceFailure"},
      {0x808C0000, "BadSensorFailure"},
      {0x808D0000, "BadOutOfService"},
      {0x809B0000, "BadNoData"},
      {0x80AB0000, "BadInvalidArgument"},
      {0x80AE0000, "BadConnectionClosed"},
      {0x80AF0000, "BadInvalidState"},
      {0x80B80000, "BadRequestTooLarge"},
      {0x80B90000, "BadResponseTooLarge"},
      {0x80BE0000, "BadProtocolVersionUnsupported"},
      {0x810E0000, "BadLicenseExpired"},
  };
  uint32_t key = code & 0xFFFF0000u;  // the low 16 bits are info flags
  for (const Entry& e : kCodes)
    if (e.code == key) return e.name;
  return fmt::format("0x{:08X}", code);
}

// ---------------------------------------------------------------------------------------------
// Encoder

void Encoder::PatchUInt32(size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) out_[offset + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void Encoder::UInt16(uint16_t v) {
  Byte(v & 0xFF);
  Byte(v >> 8);
}
void Encoder::UInt32(uint32_t v) {
  for (int i = 0; i < 4; ++i) Byte((v >> (8 * i)) & 0xFF);
}
void Encoder::UInt64(uint64_t v) {
  for (int i = 0; i < 8; ++i) Byte((v >> (8 * i)) & 0xFF);
}
void Encoder::Float(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  UInt32(u);
}
void Encoder::Double(double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  UInt64(u);
}
void Encoder::String(std::string_view v) {
  Int32(static_cast<int32_t>(v.size()));
  out_.append(v);
}

void Encoder::NodeId(const opcua::NodeId& v) {
  using K = opcua::NodeId::Kind;
  switch (v.kind) {
    case K::kNumeric:
      if (v.ns == 0 && v.numeric <= 0xFF) {
        Byte(0x00);
        Byte(static_cast<uint8_t>(v.numeric));
      } else if (v.ns <= 0xFF && v.numeric <= 0xFFFF) {
        Byte(0x01);
        Byte(static_cast<uint8_t>(v.ns));
        UInt16(static_cast<uint16_t>(v.numeric));
      } else {
        Byte(0x02);
        UInt16(v.ns);
        UInt32(v.numeric);
      }
      return;
    case K::kString:
      Byte(0x03);
      UInt16(v.ns);
      String(v.text);
      return;
    case K::kGuid:
      Byte(0x04);
      UInt16(v.ns);
      out_.append(v.text.size() == 16 ? v.text : std::string(16, '\0'));
      return;
    case K::kOpaque:
      Byte(0x05);
      UInt16(v.ns);
      ByteString(v.text);
      return;
  }
}

void Encoder::ExpandedNodeId(const opcua::ExpandedNodeId& v) {
  size_t mask_at = out_.size();
  NodeId(v.node);
  uint8_t flags = (v.namespace_uri.empty() ? 0 : 0x80) | (v.server_index ? 0x40 : 0);
  out_[mask_at] = static_cast<char>(uint8_t(out_[mask_at]) | flags);
  if (!v.namespace_uri.empty()) String(v.namespace_uri);
  if (v.server_index) UInt32(v.server_index);
}

void Encoder::QualifiedName(const opcua::QualifiedName& v) {
  UInt16(v.ns);
  String(v.name);
}

void Encoder::LocalizedText(const opcua::LocalizedText& v) {
  Byte((v.locale.empty() ? 0 : 0x01) | (v.text.empty() ? 0 : 0x02));
  if (!v.locale.empty()) String(v.locale);
  if (!v.text.empty()) String(v.text);
}

void Encoder::ExtensionObject(const opcua::ExtensionObject& v) {
  NodeId(v.type_id);
  Byte(v.encoding);
  if (v.encoding != 0) ByteString(v.body);
}

void Encoder::Scalar(BuiltinType t, const opcua::Scalar& s) {
  using B = BuiltinType;
  switch (t) {
    case B::kNull: return;
    case B::kBoolean: return Boolean(std::get<bool>(s));
    case B::kSByte: return SByte(static_cast<int8_t>(std::get<int64_t>(s)));
    case B::kByte: return Byte(static_cast<uint8_t>(std::get<uint64_t>(s)));
    case B::kInt16: return Int16(static_cast<int16_t>(std::get<int64_t>(s)));
    case B::kUInt16: return UInt16(static_cast<uint16_t>(std::get<uint64_t>(s)));
    case B::kInt32: return Int32(static_cast<int32_t>(std::get<int64_t>(s)));
    case B::kUInt32:
    case B::kStatusCode: return UInt32(static_cast<uint32_t>(std::get<uint64_t>(s)));
    case B::kInt64:
    case B::kDateTime: return Int64(std::get<int64_t>(s));
    case B::kUInt64: return UInt64(std::get<uint64_t>(s));
    case B::kFloat: return Float(static_cast<float>(std::get<double>(s)));
    case B::kDouble: return Double(std::get<double>(s));
    case B::kString:
    case B::kByteString:
    case B::kXmlElement: return String(std::get<std::string>(s));
    case B::kGuid:
    case B::kDataValue:
    case B::kVariant:
    case B::kDiagnosticInfo: return Raw(std::get<std::string>(s));
    case B::kNodeId: return NodeId(std::get<opcua::NodeId>(s));
    case B::kExpandedNodeId: return ExpandedNodeId(std::get<opcua::ExpandedNodeId>(s));
    case B::kQualifiedName: return QualifiedName(std::get<opcua::QualifiedName>(s));
    case B::kLocalizedText: return LocalizedText(std::get<opcua::LocalizedText>(s));
    case B::kExtensionObject: return ExtensionObject(std::get<opcua::ExtensionObject>(s));
  }
}

void Encoder::Variant(const opcua::Variant& v) {
  uint8_t mask = static_cast<uint8_t>(v.type);
  if (v.type == BuiltinType::kNull) return Byte(0);
  if (v.is_array) mask |= 0x80;
  if (v.is_array && !v.dimensions.empty()) mask |= 0x40;
  Byte(mask);
  if (v.is_array) {
    ArrayLength(v.values.size());
    for (const auto& s : v.values) Scalar(v.type, s);
    if (!v.dimensions.empty()) {
      ArrayLength(v.dimensions.size());
      for (int32_t d : v.dimensions) Int32(d);
    }
  } else if (!v.values.empty()) {
    Scalar(v.type, v.values[0]);
  }
}

void Encoder::DataValue(const opcua::DataValue& v) {
  uint8_t mask = (v.value ? 0x01 : 0) | (v.status ? 0x02 : 0) | (v.source_timestamp ? 0x04 : 0) |
                 (v.server_timestamp ? 0x08 : 0) | (v.source_picoseconds ? 0x10 : 0) |
                 (v.server_picoseconds ? 0x20 : 0);
  Byte(mask);
  if (v.value) Variant(*v.value);
  if (v.status) StatusCode(v.status);
  if (v.source_timestamp) DateTime(v.source_timestamp);
  if (v.source_picoseconds) UInt16(v.source_picoseconds);
  if (v.server_timestamp) DateTime(v.server_timestamp);
  if (v.server_picoseconds) UInt16(v.server_picoseconds);
}

}  // namespace doppel::ingest::opcua
