// Decoder of binary.h: every read checks the bytes left first and names field and offset.
#include <fmt/format.h>

#include <cstring>

#include "doppel/ingest/opcua/binary.h"

namespace doppel::ingest::opcua {

namespace {

// Restores the nesting depth on every exit path.
class DepthGuard {
 public:
  explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
  ~DepthGuard() { --*depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int* depth_;
};

}  // namespace

Status Decoder::Error(const char* field, const std::string& what) const {
  return InvalidArgument(fmt::format("{}: {} at offset {}", field, what, pos_));
}

Status Decoder::Need(const char* field, size_t n) {
  if (remaining() < n) return Error(field, fmt::format("truncated (need {} bytes, {} left)", n, remaining()));
  return Status::Ok();
}

Status Decoder::Enter(const char* field) {
  if (depth_ >= kMaxNestingDepth) return Error(field, fmt::format("nested deeper than {}", kMaxNestingDepth));
  return Status::Ok();
}

#define DOPPEL_UA_FIXED(Name, T)                                                               \
  Status Decoder::Name(const char* field, T* v) {                                              \
    DOPPEL_RETURN_IF_ERROR(Need(field, sizeof(T)));                                            \
    uint64_t u = 0;                                                                            \
    for (size_t i = 0; i < sizeof(T); ++i) u |= uint64_t(uint8_t(data_[pos_ + i])) << (8 * i); \
    pos_ += sizeof(T);                                                                         \
    if constexpr (sizeof(T) == 1) {                                                            \
      uint8_t b = static_cast<uint8_t>(u);                                                     \
      std::memcpy(v, &b, 1);                                                                   \
    } else if constexpr (sizeof(T) == 2) {                                                     \
      uint16_t b = static_cast<uint16_t>(u);                                                   \
      std::memcpy(v, &b, 2);                                                                   \
    } else if constexpr (sizeof(T) == 4) {                                                     \
      uint32_t b = static_cast<uint32_t>(u);                                                   \
      std::memcpy(v, &b, 4);                                                                   \
    } else {                                                                                   \
      std::memcpy(v, &u, 8);                                                                   \
    }                                                                                          \
    return Status::Ok();                                                                       \
  }

DOPPEL_UA_FIXED(Byte, uint8_t)
DOPPEL_UA_FIXED(SByte, int8_t)
DOPPEL_UA_FIXED(Int16, int16_t)
DOPPEL_UA_FIXED(UInt16, uint16_t)
DOPPEL_UA_FIXED(Int32, int32_t)
DOPPEL_UA_FIXED(UInt32, uint32_t)
DOPPEL_UA_FIXED(Int64, int64_t)
DOPPEL_UA_FIXED(UInt64, uint64_t)
DOPPEL_UA_FIXED(Float, float)
DOPPEL_UA_FIXED(Double, double)
#undef DOPPEL_UA_FIXED

Status Decoder::Boolean(const char* field, bool* v) {
  uint8_t b = 0;
  DOPPEL_RETURN_IF_ERROR(Byte(field, &b));
  *v = b != 0;
  return Status::Ok();
}

Status Decoder::Raw(const char* field, size_t n, std::string* v) {
  DOPPEL_RETURN_IF_ERROR(Need(field, n));
  v->assign(data_.substr(pos_, n));
  pos_ += n;
  return Status::Ok();
}

Status Decoder::String(const char* field, std::string* v) {
  int32_t n = 0;
  DOPPEL_RETURN_IF_ERROR(Int32(field, &n));
  if (n == -1) {
    v->clear();
    return Status::Ok();
  }
  if (n < -1) return Error(field, fmt::format("negative string length {}", n));
  if (n > kMaxStringBytes)
    return Error(field, fmt::format("string of {} bytes exceeds the cap of {}", n, kMaxStringBytes));
  return Raw(field, static_cast<size_t>(n), v);
}

Status Decoder::Guid(const char* field, std::string* v) { return Raw(field, 16, v); }

Status Decoder::ArrayLength(const char* field, size_t* n, size_t min_elem_bytes) {
  int32_t len = 0;
  DOPPEL_RETURN_IF_ERROR(Int32(field, &len));
  if (len == -1) {
    *n = 0;
    return Status::Ok();
  }
  if (len < -1) return Error(field, fmt::format("negative array length {}", len));
  if (len > kMaxArrayLength)
    return Error(field, fmt::format("array of {} elements exceeds the cap of {}", len, kMaxArrayLength));
  if (static_cast<size_t>(len) * min_elem_bytes > remaining())
    return Error(field,
                 fmt::format("array of {} elements cannot fit in the {} bytes left", len, remaining()));
  *n = static_cast<size_t>(len);
  return Status::Ok();
}

Status Decoder::NodeId(const char* field, opcua::NodeId* v) {
  uint8_t enc = 0;
  DOPPEL_RETURN_IF_ERROR(Byte(field, &enc));
  *v = opcua::NodeId{};
  using K = opcua::NodeId::Kind;
  switch (enc & 0x3F) {
    case 0x00: {
      uint8_t id = 0;
      DOPPEL_RETURN_IF_ERROR(Byte(field, &id));
      v->numeric = id;
      return Status::Ok();
    }
    case 0x01: {
      uint8_t ns = 0;
      uint16_t id = 0;
      DOPPEL_RETURN_IF_ERROR(Byte(field, &ns));
      DOPPEL_RETURN_IF_ERROR(UInt16(field, &id));
      v->ns = ns;
      v->numeric = id;
      return Status::Ok();
    }
    case 0x02: DOPPEL_RETURN_IF_ERROR(UInt16(field, &v->ns)); return UInt32(field, &v->numeric);
    case 0x03:
      v->kind = K::kString;
      DOPPEL_RETURN_IF_ERROR(UInt16(field, &v->ns));
      return String(field, &v->text);
    case 0x04:
      v->kind = K::kGuid;
      DOPPEL_RETURN_IF_ERROR(UInt16(field, &v->ns));
      return Guid(field, &v->text);
    case 0x05:
      v->kind = K::kOpaque;
      DOPPEL_RETURN_IF_ERROR(UInt16(field, &v->ns));
      return ByteString(field, &v->text);
    default: --pos_; return Error(field, fmt::format("unknown NodeId encoding 0x{:02x}", enc));
  }
}

Status Decoder::ExpandedNodeId(const char* field, opcua::ExpandedNodeId* v) {
  if (remaining() < 1) return Need(field, 1);
  uint8_t flags = uint8_t(data_[pos_]) & 0xC0;
  // The NodeId reader ignores the two flag bits; read them back here.
  DOPPEL_RETURN_IF_ERROR(NodeId(field, &v->node));
  v->namespace_uri.clear();
  v->server_index = 0;
  if (flags & 0x80) DOPPEL_RETURN_IF_ERROR(String(field, &v->namespace_uri));
  if (flags & 0x40) DOPPEL_RETURN_IF_ERROR(UInt32(field, &v->server_index));
  return Status::Ok();
}

Status Decoder::QualifiedName(const char* field, opcua::QualifiedName* v) {
  DOPPEL_RETURN_IF_ERROR(UInt16(field, &v->ns));
  return String(field, &v->name);
}

Status Decoder::LocalizedText(const char* field, opcua::LocalizedText* v) {
  uint8_t mask = 0;
  DOPPEL_RETURN_IF_ERROR(Byte(field, &mask));
  v->locale.clear();
  v->text.clear();
  if (mask & 0x01) DOPPEL_RETURN_IF_ERROR(String(field, &v->locale));
  if (mask & 0x02) DOPPEL_RETURN_IF_ERROR(String(field, &v->text));
  return Status::Ok();
}

Status Decoder::ExtensionObject(const char* field, opcua::ExtensionObject* v) {
  DOPPEL_RETURN_IF_ERROR(NodeId(field, &v->type_id));
  DOPPEL_RETURN_IF_ERROR(Byte(field, &v->encoding));
  v->body.clear();
  if (v->encoding == 0) return Status::Ok();
  if (v->encoding > 2) {
    --pos_;
    return Error(field, fmt::format("unknown ExtensionObject encoding {}", v->encoding));
  }
  return ByteString(field, &v->body);
}

Status Decoder::NestedRaw(const char* field, Status (Decoder::*read)(const char*), std::string* raw) {
  size_t start = pos_;
  DOPPEL_RETURN_IF_ERROR((this->*read)(field));
  raw->assign(data_.substr(start, pos_ - start));
  return Status::Ok();
}

Status Decoder::ScalarOf(const char* field, BuiltinType t, opcua::Scalar* s) {
  using B = BuiltinType;
  switch (t) {
    case B::kNull: *s = std::monostate{}; return Status::Ok();
    case B::kBoolean: {
      bool v;
      DOPPEL_RETURN_IF_ERROR(Boolean(field, &v));
      *s = v;
      return Status::Ok();
    }
    case B::kSByte: {
      int8_t v;
      DOPPEL_RETURN_IF_ERROR(SByte(field, &v));
      *s = int64_t{v};
      return Status::Ok();
    }
    case B::kByte: {
      uint8_t v;
      DOPPEL_RETURN_IF_ERROR(Byte(field, &v));
      *s = uint64_t{v};
      return Status::Ok();
    }
    case B::kInt16: {
      int16_t v;
      DOPPEL_RETURN_IF_ERROR(Int16(field, &v));
      *s = int64_t{v};
      return Status::Ok();
    }
    case B::kUInt16: {
      uint16_t v;
      DOPPEL_RETURN_IF_ERROR(UInt16(field, &v));
      *s = uint64_t{v};
      return Status::Ok();
    }
    case B::kInt32: {
      int32_t v;
      DOPPEL_RETURN_IF_ERROR(Int32(field, &v));
      *s = int64_t{v};
      return Status::Ok();
    }
    case B::kUInt32:
    case B::kStatusCode: {
      uint32_t v;
      DOPPEL_RETURN_IF_ERROR(UInt32(field, &v));
      *s = uint64_t{v};
      return Status::Ok();
    }
    case B::kInt64:
    case B::kDateTime: {
      int64_t v;
      DOPPEL_RETURN_IF_ERROR(Int64(field, &v));
      *s = v;
      return Status::Ok();
    }
    case B::kUInt64: {
      uint64_t v;
      DOPPEL_RETURN_IF_ERROR(UInt64(field, &v));
      *s = v;
      return Status::Ok();
    }
    case B::kFloat: {
      float v;
      DOPPEL_RETURN_IF_ERROR(Float(field, &v));
      *s = double{v};
      return Status::Ok();
    }
    case B::kDouble: {
      double v;
      DOPPEL_RETURN_IF_ERROR(Double(field, &v));
      *s = v;
      return Status::Ok();
    }
    case B::kString:
    case B::kByteString:
    case B::kXmlElement: {
      std::string v;
      DOPPEL_RETURN_IF_ERROR(String(field, &v));
      *s = std::move(v);
      return Status::Ok();
    }
    case B::kGuid: {
      std::string v;
      DOPPEL_RETURN_IF_ERROR(Guid(field, &v));
      *s = std::move(v);
      return Status::Ok();
    }
    case B::kNodeId: {
      opcua::NodeId v;
      DOPPEL_RETURN_IF_ERROR(NodeId(field, &v));
      *s = std::move(v);
      return Status::Ok();
    }
    case B::kExpandedNodeId: {
      opcua::ExpandedNodeId v;
      DOPPEL_RETURN_IF_ERROR(ExpandedNodeId(field, &v));
      *s = std::move(v);
      return Status::Ok();
    }
    case B::kQualifiedName: {
      opcua::QualifiedName v;
      DOPPEL_RETURN_IF_ERROR(QualifiedName(field, &v));
      *s = std::move(v);
      return Status::Ok();
    }
    case B::kLocalizedText: {
      opcua::LocalizedText v;
      DOPPEL_RETURN_IF_ERROR(LocalizedText(field, &v));
      *s = std::move(v);
      return Status::Ok();
    }
    case B::kExtensionObject: {
      opcua::ExtensionObject v;
      DOPPEL_RETURN_IF_ERROR(ExtensionObject(field, &v));
      *s = std::move(v);
      return Status::Ok();
    }
    case B::kDataValue: {
      std::string raw;
      DOPPEL_RETURN_IF_ERROR(NestedRaw(field, &Decoder::SkipDataValue, &raw));
      *s = std::move(raw);
      return Status::Ok();
    }
    case B::kVariant: {
      std::string raw;
      DOPPEL_RETURN_IF_ERROR(NestedRaw(field, &Decoder::SkipVariant, &raw));
      *s = std::move(raw);
      return Status::Ok();
    }
    case B::kDiagnosticInfo: {
      std::string raw;
      DOPPEL_RETURN_IF_ERROR(NestedRaw(field, &Decoder::SkipDiagnosticInfo, &raw));
      *s = std::move(raw);
      return Status::Ok();
    }
  }
  return Error(field, "unknown built-in type");
}

Status Decoder::Variant(const char* field, opcua::Variant* v) {
  DOPPEL_RETURN_IF_ERROR(Enter(field));
  DepthGuard guard(&depth_);
  uint8_t mask = 0;
  DOPPEL_RETURN_IF_ERROR(Byte(field, &mask));
  uint8_t type = mask & 0x3F;
  if (type > static_cast<uint8_t>(BuiltinType::kDiagnosticInfo)) {
    --pos_;
    return Error(field, fmt::format("unknown Variant type {}", type));
  }
  *v = opcua::Variant{};
  v->type = static_cast<BuiltinType>(type);
  v->is_array = (mask & 0x80) != 0;
  if (!v->is_array) {
    if (mask & 0x40) return Error(field, "Variant has dimensions but is not an array");
    if (v->type == BuiltinType::kNull) return Status::Ok();
    v->values.emplace_back();
    return ScalarOf(field, v->type, &v->values[0]);
  }
  // A Null element takes no bytes, so it cannot be bounded by the bytes left; refuse it.
  if (v->type == BuiltinType::kNull) return Error(field, "array of Null");
  DOPPEL_RETURN_IF_ERROR(Array(field, [&](size_t) {
    v->values.emplace_back();
    return ScalarOf(field, v->type, &v->values.back());
  }));
  if (mask & 0x40) {
    DOPPEL_RETURN_IF_ERROR(Array(
        field,
        [&](size_t) {
          int32_t d = 0;
          DOPPEL_RETURN_IF_ERROR(Int32(field, &d));
          v->dimensions.push_back(d);
          return Status::Ok();
        },
        4));
  }
  return Status::Ok();
}

Status Decoder::SkipVariant(const char* field) {
  opcua::Variant v;
  return Variant(field, &v);
}

Status Decoder::DataValue(const char* field, opcua::DataValue* v) {
  DOPPEL_RETURN_IF_ERROR(Enter(field));
  DepthGuard guard(&depth_);
  uint8_t mask = 0;
  DOPPEL_RETURN_IF_ERROR(Byte(field, &mask));
  *v = opcua::DataValue{};
  if (mask & 0x01) {
    v->value.emplace();
    DOPPEL_RETURN_IF_ERROR(Variant(field, &*v->value));
  }
  if (mask & 0x02) DOPPEL_RETURN_IF_ERROR(StatusCode(field, &v->status));
  if (mask & 0x04) DOPPEL_RETURN_IF_ERROR(DateTime(field, &v->source_timestamp));
  if (mask & 0x10) DOPPEL_RETURN_IF_ERROR(UInt16(field, &v->source_picoseconds));
  if (mask & 0x08) DOPPEL_RETURN_IF_ERROR(DateTime(field, &v->server_timestamp));
  if (mask & 0x20) DOPPEL_RETURN_IF_ERROR(UInt16(field, &v->server_picoseconds));
  return Status::Ok();
}

Status Decoder::SkipDataValue(const char* field) {
  opcua::DataValue v;
  return DataValue(field, &v);
}

Status Decoder::SkipDiagnosticInfo(const char* field) {
  DOPPEL_RETURN_IF_ERROR(Enter(field));
  DepthGuard guard(&depth_);
  uint8_t mask = 0;
  DOPPEL_RETURN_IF_ERROR(Byte(field, &mask));
  int32_t i = 0;
  uint32_t u = 0;
  std::string s;
  if (mask & 0x01) DOPPEL_RETURN_IF_ERROR(Int32(field, &i));  // symbolic id
  if (mask & 0x02) DOPPEL_RETURN_IF_ERROR(Int32(field, &i));  // namespace uri
  if (mask & 0x08) DOPPEL_RETURN_IF_ERROR(Int32(field, &i));  // locale
  if (mask & 0x04) DOPPEL_RETURN_IF_ERROR(Int32(field, &i));  // localized text
  if (mask & 0x10) DOPPEL_RETURN_IF_ERROR(String(field, &s));
  if (mask & 0x20) DOPPEL_RETURN_IF_ERROR(UInt32(field, &u));
  if (mask & 0x40) DOPPEL_RETURN_IF_ERROR(SkipDiagnosticInfo(field));
  return Status::Ok();
}

}  // namespace doppel::ingest::opcua
