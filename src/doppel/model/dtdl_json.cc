// ToJson: the model back as a DTDL document (what GET /api/v1/models serves).
#include "doppel/model/dtdl.h"
#include "doppel/model/dtdl_internal.h"

namespace doppel::model {

namespace {

using json = nlohmann::json;

json TypeJson(const std::string& cls, const Element& e) {
  if (e.co_types.empty()) return cls;
  json t = json::array({cls});
  for (const auto& c : e.co_types) t.push_back(c);
  return t;
}

void PutCommon(const Element& e, json* o) {
  if (!e.id.empty()) (*o)["@id"] = e.id;
  if (!e.display_name.is_null()) (*o)["displayName"] = e.display_name;
  if (!e.description.is_null()) (*o)["description"] = e.description;
  if (!e.comment.empty()) (*o)["comment"] = e.comment;
}

json SchemaJson(const Schema& s);

// Field, MapKey, MapValue, CommandRequest / CommandResponse (`nullable` set for the latter).
json FieldJson(const Field& f, const std::string& cls, bool with_nullable) {
  json o = json::object();
  if (!f.co_types.empty()) o["@type"] = TypeJson(cls, f);
  PutCommon(f, &o);
  o["name"] = f.name;
  o["schema"] = f.schema ? SchemaJson(*f.schema) : json("string");
  if (!f.unit.empty()) o["unit"] = f.unit;
  if (with_nullable) o["nullable"] = f.nullable;
  return o;
}

json SchemaJson(const Schema& s) {
  switch (s.kind) {
    case SchemaKind::kPrimitive: return PrimitiveName(s.primitive);
    case SchemaKind::kReference: return s.ref;
    default: break;
  }
  json o = json::object();
  PutCommon(s, &o);
  switch (s.kind) {
    case SchemaKind::kArray:
      o["@type"] = "Array";
      o["elementSchema"] = SchemaJson(*s.element);
      break;
    case SchemaKind::kEnum: {
      o["@type"] = "Enum";
      o["valueSchema"] = PrimitiveName(s.value_schema);
      json values = json::array();
      for (const auto& ev : s.enum_values) {
        json v = json::object();
        PutCommon(ev, &v);
        v["name"] = ev.name;
        v["enumValue"] = ev.value;
        values.push_back(std::move(v));
      }
      o["enumValues"] = std::move(values);
      break;
    }
    case SchemaKind::kMap:
      o["@type"] = "Map";
      o["mapKey"] = FieldJson(s.map_key, "MapKey", false);
      o["mapValue"] = FieldJson(s.map_value, "MapValue", false);
      break;
    default: {
      o["@type"] = "Object";
      json fields = json::array();
      for (const auto& f : s.fields) fields.push_back(FieldJson(f, "Field", false));
      o["fields"] = std::move(fields);
      break;
    }
  }
  return o;
}

json ContentJson(const Content& c, int version) {
  json o = json::object();
  o["@type"] = TypeJson(ContentKindName(c.kind), c);
  PutCommon(c, &o);
  o["name"] = c.name;
  switch (c.kind) {
    case ContentKind::kTelemetry:
    case ContentKind::kProperty:
      o["schema"] = SchemaJson(*c.schema);
      if (!c.unit.empty()) o["unit"] = c.unit;
      if (c.kind == ContentKind::kProperty) o["writable"] = c.writable;
      break;
    case ContentKind::kCommand:
      if (c.request) {
        o["request"] =
            FieldJson(*c.request, version >= 3 ? "CommandRequest" : "CommandPayload", version >= 3);
      }
      if (c.response) {
        o["response"] =
            FieldJson(*c.response, version >= 3 ? "CommandResponse" : "CommandPayload", version >= 3);
      }
      break;
    case ContentKind::kRelationship: {
      if (!c.target.empty()) o["target"] = c.target;
      if (c.min_multiplicity) o["minMultiplicity"] = *c.min_multiplicity;
      if (c.max_multiplicity) o["maxMultiplicity"] = *c.max_multiplicity;
      o["writable"] = c.writable;
      if (!c.properties.empty()) {
        json props = json::array();
        for (const auto& p : c.properties) props.push_back(ContentJson(p, version));
        o["properties"] = std::move(props);
      }
      break;
    }
    case ContentKind::kComponent: o["schema"] = c.component; break;
  }
  return o;
}

}  // namespace

json ToJson(const Interface& iface) {
  json o = json::object();
  std::string context(iface.dtdl_version >= 3 ? internal::kContextV3 : internal::kContextV2);
  if (iface.extensions.empty()) {
    o["@context"] = context;
  } else {
    json ctx = json::array({context});
    for (const auto& e : iface.extensions) ctx.push_back(e);
    o["@context"] = std::move(ctx);
  }
  o["@type"] = "Interface";
  PutCommon(iface, &o);
  if (!iface.extends.empty()) o["extends"] = iface.extends;
  json contents = json::array();
  for (const auto& c : iface.contents) contents.push_back(ContentJson(c, iface.dtdl_version));
  o["contents"] = std::move(contents);
  if (!iface.schemas.empty()) {
    json schemas = json::array();
    for (const auto& s : iface.schemas) schemas.push_back(SchemaJson(*s));
    o["schemas"] = std::move(schemas);
  }
  return o;
}

json ToJson(const ModelRegistry& registry) {
  json out = json::array();
  for (const Interface* i : registry.List()) out.push_back(ToJson(*i));
  return out;
}

}  // namespace doppel::model
