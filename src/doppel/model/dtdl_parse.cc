// The DTDL parser: JSON text -> Interface, checking every rule in docs/dtdl.md. Outside input:
// types are checked before every access and nothing escapes as an exception.
#include <algorithm>
#include <initializer_list>
#include <set>

#include "doppel/model/dtdl.h"
#include "doppel/model/dtdl_internal.h"

namespace doppel::model {

namespace {

using json = nlohmann::json;
using namespace internal;

const std::initializer_list<std::string_view> kCommonKeys = {"@id", "@type", "comment", "description",
                                                             "displayName"};
const std::set<std::string_view> kElementClasses = {
    "Array",        "Command",   "CommandPayload", "CommandRequest", "CommandResponse",
    "Component",    "Enum",      "EnumValue",      "Field",          "Interface",
    "Map",          "MapKey",    "MapValue",       "Object",         "Property",
    "Relationship", "Telemetry",
};

// 'text', cut to 80 characters so a huge fuzzed string does not make a huge message.
std::string Quote(std::string_view s) {
  if (s.size() > 80) return "'" + std::string(s.substr(0, 77)) + "...'";
  return "'" + std::string(s) + "'";
}

std::string Member(const std::string& path, std::string_view key) {
  if (!key.empty() && (key.front() == '@' || IsValidName(key, 512))) return path + "." + std::string(key);
  return path + "[" + json(std::string(key)).dump(-1, ' ', false, json::error_handler_t::replace) + "]";
}

std::string Index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

std::string JoinList(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto it = items.begin(); it != items.end(); ++it) {
    if (it != items.begin()) out += std::next(it) == items.end() ? " or " : ", ";
    out += *it;
  }
  return out;
}

const json* Find(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

class Parser {
 public:
  explicit Parser(const std::string& source) : source_(source) {}

  Status ParseInterfaceObject(const json& j, const std::string& path, Interface* out);

 private:
  Status Err(const std::string& path, const std::string& reason) const {
    return InvalidArgument(source_ + ": " + path + ": " + reason);
  }
  size_t MaxName() const { return version_ >= 3 ? 512 : 64; }
  int MaxSchemaDepth() const { return version_ >= 3 ? 8 : 5; }

  Status ParseContext(const json& j, const std::string& path, Interface* out);
  Status CheckKeys(const json& obj, const std::string& path, std::string_view what,
                   std::initializer_list<std::string_view> extra);
  Status ParseTypes(const json& obj, const std::string& path, std::initializer_list<std::string_view> classes,
                    bool required, bool semantic_ok, std::string* cls, std::vector<std::string>* co_types);
  Status ParseCommon(const json& obj, const std::string& path, Element* e);
  Status ParseName(const json& obj, const std::string& path, std::string* name);
  Status ParseSchema(const json& j, const std::string& path, int depth, SchemaPtr* out);
  Status ParseComplexSchema(const json& obj, const std::string& path, int depth, Schema* s);
  Status ParseFieldLike(const json& obj, const std::string& path, int depth, std::string_view cls,
                        bool allow_unit, bool allow_nullable, Field* f);
  Status CheckUnit(const json& obj, const std::string& path, const Element& e, const SchemaPtr& schema,
                   std::string* unit);
  Status ParseContent(const json& obj, const std::string& path, bool relationship_property, Content* c);
  Status ParseBool(const json& obj, const std::string& path, std::string_view key, bool* out);
  Status ParseMultiplicity(const json& obj, const std::string& path, std::string_view key, int64_t min,
                           std::optional<int64_t>* out);

  std::string source_;
  int version_ = 3;
  bool quantitative_ = false;
};

Status Parser::ParseContext(const json& j, const std::string& path, Interface* out) {
  const json* ctx = Find(j, "@context");
  if (!ctx) return Err(path, "missing @context (expected \"dtmi:dtdl:context;3\")");
  const std::string cpath = path + ".@context";
  std::vector<std::string> entries;
  if (ctx->is_string()) {
    entries.push_back(ctx->get<std::string>());
  } else if (ctx->is_array() && !ctx->empty()) {
    for (size_t i = 0; i < ctx->size(); ++i) {
      if (!(*ctx)[i].is_string()) return Err(Index(cpath, i), "expected a string");
      entries.push_back((*ctx)[i].get<std::string>());
    }
  } else {
    return Err(cpath, "expected a string or a non-empty array of strings");
  }
  if (entries[0] == kContextV3) {
    version_ = 3;
  } else if (entries[0] == kContextV2) {
    version_ = 2;
  } else {
    return Err(ctx->is_string() ? cpath : Index(cpath, 0),
               "unsupported @context " + Quote(entries[0]) + " (expected \"dtmi:dtdl:context;3\" or ;2)");
  }
  out->dtdl_version = version_;
  for (size_t i = 1; i < entries.size(); ++i) {
    if (version_ >= 3 && entries[i] == kQuantitativeTypes) {
      quantitative_ = true;
      if (std::find(out->extensions.begin(), out->extensions.end(), entries[i]) == out->extensions.end()) {
        out->extensions.push_back(entries[i]);
      }
      continue;
    }
    return Err(Index(cpath, i), "unsupported @context entry " + Quote(entries[i]));
  }
  return Status::Ok();
}

Status Parser::CheckKeys(const json& obj, const std::string& path, std::string_view what,
                         std::initializer_list<std::string_view> extra) {
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    bool known = std::find(kCommonKeys.begin(), kCommonKeys.end(), key) != kCommonKeys.end() ||
                 std::find(extra.begin(), extra.end(), key) != extra.end();
    if (!known) return Err(Member(path, key), "unknown property " + Quote(key) + " for " + std::string(what));
  }
  return Status::Ok();
}

Status Parser::ParseTypes(const json& obj, const std::string& path,
                          std::initializer_list<std::string_view> classes, bool required, bool semantic_ok,
                          std::string* cls, std::vector<std::string>* co_types) {
  cls->clear();
  const json* t = Find(obj, "@type");
  const std::string tpath = path + ".@type";
  if (!t) {
    if (required) return Err(path, "missing @type (expected " + JoinList(classes) + ")");
    return Status::Ok();
  }
  std::vector<std::string> types;
  if (t->is_string()) {
    types.push_back(t->get<std::string>());
  } else if (t->is_array() && !t->empty()) {
    for (size_t i = 0; i < t->size(); ++i) {
      if (!(*t)[i].is_string()) return Err(Index(tpath, i), "expected a string");
      types.push_back((*t)[i].get<std::string>());
    }
  } else {
    return Err(tpath, "expected a string or a non-empty array of strings");
  }
  for (const auto& type : types) {
    if (std::find(classes.begin(), classes.end(), type) != classes.end()) {
      if (!cls->empty()) return Err(tpath, "more than one element class (" + *cls + ", " + type + ")");
      *cls = type;
    } else if (UnitsOfSemanticType(type)) {
      if (!semantic_ok) return Err(tpath, "semantic type " + Quote(type) + " is not allowed here");
      if (version_ >= 3 && !quantitative_) {
        return Err(tpath, "semantic type " + Quote(type) + " needs @context entry \"" +
                              std::string(kQuantitativeTypes) + "\"");
      }
      if (!co_types->empty()) return Err(tpath, "more than one semantic type");
      co_types->push_back(type);
    } else if (kElementClasses.count(type)) {
      return Err(tpath, "@type " + Quote(type) + " is not allowed here (expected " + JoinList(classes) + ")");
    } else {
      return Err(tpath, "unknown @type " + Quote(type));
    }
  }
  if (cls->empty() && required) return Err(tpath, "@type must include " + JoinList(classes));
  return Status::Ok();
}

Status Parser::ParseCommon(const json& obj, const std::string& path, Element* e) {
  e->path = path;
  if (const json* id = Find(obj, "@id")) {
    if (!id->is_string() || !IsDtmi(id->get<std::string>(), version_, false)) {
      return Err(path + ".@id", id->is_string() ? "invalid DTMI " + Quote(id->get<std::string>())
                                                : "expected a DTMI string");
    }
    e->id = id->get<std::string>();
  }
  for (std::string_view key : {"displayName", "description"}) {
    const json* v = Find(obj, key);
    if (!v) continue;
    bool ok = v->is_string();
    if (v->is_object()) {
      ok = true;
      for (const auto& item : v->items()) ok = ok && !item.key().empty() && item.value().is_string();
    }
    if (!ok) return Err(Member(path, key), "expected a string or a language map of strings");
    (key == "displayName" ? e->display_name : e->description) = *v;
  }
  if (const json* c = Find(obj, "comment")) {
    if (!c->is_string()) return Err(path + ".comment", "expected a string");
    e->comment = c->get<std::string>();
  }
  return Status::Ok();
}

Status Parser::ParseName(const json& obj, const std::string& path, std::string* name) {
  const json* n = Find(obj, "name");
  if (!n) return Err(path, "missing name");
  if (!n->is_string()) return Err(path + ".name", "expected a string");
  const auto& s = n->get_ref<const std::string&>();
  if (!IsValidName(s, MaxName())) {
    return Err(path + ".name",
               "invalid name " + Quote(s) + " (letters, digits and '_', starting with a letter, " +
                   "not ending with '_', at most " + std::to_string(MaxName()) + " characters)");
  }
  *name = s;
  return Status::Ok();
}

Status Parser::ParseSchema(const json& j, const std::string& path, int depth, SchemaPtr* out) {
  auto s = std::make_shared<Schema>();
  s->path = path;
  if (j.is_string()) {
    const auto& name = j.get_ref<const std::string&>();
    if (auto p = PrimitiveFromName(name, version_)) {
      s->kind = SchemaKind::kPrimitive;
      s->primitive = *p;
    } else if (PrimitiveFromName(name, 3)) {
      return Err(path, "schema " + Quote(name) + " needs DTDL v3");
    } else if (name.rfind("dtmi:", 0) == 0) {
      if (!IsDtmi(name, version_, false)) return Err(path, "invalid DTMI " + Quote(name));
      s->kind = SchemaKind::kReference;
      s->ref = name;
    } else {
      return Err(path, "unknown schema " + Quote(name));
    }
  } else if (j.is_object()) {
    DOPPEL_RETURN_IF_ERROR(ParseComplexSchema(j, path, depth, s.get()));
  } else {
    return Err(path, "expected a schema name or a schema object");
  }
  *out = std::move(s);
  return Status::Ok();
}

Status Parser::ParseComplexSchema(const json& obj, const std::string& path, int depth, Schema* s) {
  if (depth > MaxSchemaDepth()) {
    return Err(path, "complex schemas nested deeper than " + std::to_string(MaxSchemaDepth()) + " levels");
  }
  std::string cls;
  DOPPEL_RETURN_IF_ERROR(
      ParseTypes(obj, path, {"Array", "Enum", "Map", "Object"}, true, false, &cls, &s->co_types));
  DOPPEL_RETURN_IF_ERROR(ParseCommon(obj, path, s));
  if (cls == "Array") {
    s->kind = SchemaKind::kArray;
    DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "an Array", {"elementSchema"}));
    const json* e = Find(obj, "elementSchema");
    if (!e) return Err(path, "missing elementSchema");
    return ParseSchema(*e, path + ".elementSchema", depth + 1, &s->element);
  }
  if (cls == "Enum") {
    s->kind = SchemaKind::kEnum;
    DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "an Enum", {"valueSchema", "enumValues"}));
    const json* vs = Find(obj, "valueSchema");
    if (!vs) return Err(path, "missing valueSchema");
    if (*vs == "integer") {
      s->value_schema = Primitive::kInteger;
    } else if (*vs == "string") {
      s->value_schema = Primitive::kString;
    } else {
      return Err(path + ".valueSchema", "expected 'integer' or 'string'");
    }
    const json* values = Find(obj, "enumValues");
    if (!values) return Err(path, "missing enumValues");
    if (!values->is_array()) return Err(path + ".enumValues", "expected an array");
    std::set<std::string> names;
    std::set<json> seen;
    for (size_t i = 0; i < values->size(); ++i) {
      const json& v = (*values)[i];
      const std::string vpath = Index(path + ".enumValues", i);
      if (!v.is_object()) return Err(vpath, "expected an EnumValue object");
      EnumValue ev;
      std::string vcls;
      DOPPEL_RETURN_IF_ERROR(ParseTypes(v, vpath, {"EnumValue"}, false, false, &vcls, &ev.co_types));
      DOPPEL_RETURN_IF_ERROR(CheckKeys(v, vpath, "an EnumValue", {"name", "enumValue"}));
      DOPPEL_RETURN_IF_ERROR(ParseCommon(v, vpath, &ev));
      DOPPEL_RETURN_IF_ERROR(ParseName(v, vpath, &ev.name));
      const json* value = Find(v, "enumValue");
      if (!value) return Err(vpath, "missing enumValue");
      if (s->value_schema == Primitive::kInteger) {
        bool in_range = value->is_number_integer() &&
                        (value->is_number_unsigned()
                             ? value->get<uint64_t>() <= INT32_MAX
                             : value->get<int64_t>() >= INT32_MIN && value->get<int64_t>() <= INT32_MAX);
        if (!in_range) return Err(vpath + ".enumValue", "expected an integer (valueSchema is integer)");
      } else if (!value->is_string()) {
        return Err(vpath + ".enumValue", "expected a string (valueSchema is string)");
      }
      if (!names.insert(ev.name).second)
        return Err(vpath + ".name", "duplicate enum value name " + Quote(ev.name));
      if (!seen.insert(*value).second) return Err(vpath + ".enumValue", "duplicate enumValue");
      ev.value = *value;
      s->enum_values.push_back(std::move(ev));
    }
    return Status::Ok();
  }
  if (cls == "Map") {
    s->kind = SchemaKind::kMap;
    DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "a Map", {"mapKey", "mapValue"}));
    const json* key = Find(obj, "mapKey");
    if (!key) return Err(path, "missing mapKey");
    const std::string kpath = path + ".mapKey";
    if (!key->is_object()) return Err(kpath, "expected a MapKey object");
    std::string kcls;
    DOPPEL_RETURN_IF_ERROR(ParseTypes(*key, kpath, {"MapKey"}, false, false, &kcls, &s->map_key.co_types));
    DOPPEL_RETURN_IF_ERROR(CheckKeys(*key, kpath, "a MapKey", {"name", "schema"}));
    DOPPEL_RETURN_IF_ERROR(ParseCommon(*key, kpath, &s->map_key));
    DOPPEL_RETURN_IF_ERROR(ParseName(*key, kpath, &s->map_key.name));
    const json* ks = Find(*key, "schema");
    if (!ks) return Err(kpath, "missing schema");
    if (*ks != "string") return Err(kpath + ".schema", "a map key schema must be 'string'");
    DOPPEL_RETURN_IF_ERROR(ParseSchema(*ks, kpath + ".schema", depth + 1, &s->map_key.schema));
    const json* value = Find(obj, "mapValue");
    if (!value) return Err(path, "missing mapValue");
    return ParseFieldLike(*value, path + ".mapValue", depth + 1, "MapValue", true, false, &s->map_value);
  }
  // Object
  s->kind = SchemaKind::kObject;
  DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "an Object", {"fields"}));
  const json* fields = Find(obj, "fields");
  if (!fields) return Err(path, "missing fields");
  if (!fields->is_array()) return Err(path + ".fields", "expected an array");
  std::set<std::string> names;
  for (size_t i = 0; i < fields->size(); ++i) {
    const std::string fpath = Index(path + ".fields", i);
    Field f;
    DOPPEL_RETURN_IF_ERROR(ParseFieldLike((*fields)[i], fpath, depth + 1, "Field", true, false, &f));
    if (!names.insert(f.name).second) return Err(fpath + ".name", "duplicate field name " + Quote(f.name));
    s->fields.push_back(std::move(f));
  }
  return Status::Ok();
}

Status Parser::ParseFieldLike(const json& obj, const std::string& path, int depth, std::string_view cls,
                              bool allow_unit, bool allow_nullable, Field* f) {
  if (!obj.is_object()) return Err(path, "expected a " + std::string(cls) + " object");
  std::string got;
  DOPPEL_RETURN_IF_ERROR(ParseTypes(obj, path, {cls}, false, allow_unit, &got, &f->co_types));
  const std::string what = "a " + std::string(cls);
  if (allow_nullable && version_ >= 3) {
    DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, what, {"name", "schema", "unit", "nullable"}));
  } else if (allow_unit) {
    DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, what, {"name", "schema", "unit"}));
  } else {
    DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, what, {"name", "schema"}));
  }
  DOPPEL_RETURN_IF_ERROR(ParseCommon(obj, path, f));
  DOPPEL_RETURN_IF_ERROR(ParseName(obj, path, &f->name));
  const json* schema = Find(obj, "schema");
  if (!schema) return Err(path, "missing schema");
  DOPPEL_RETURN_IF_ERROR(ParseSchema(*schema, path + ".schema", depth, &f->schema));
  DOPPEL_RETURN_IF_ERROR(CheckUnit(obj, path, *f, f->schema, &f->unit));
  return ParseBool(obj, path, "nullable", &f->nullable);
}

Status Parser::CheckUnit(const json& obj, const std::string& path, const Element& e, const SchemaPtr& schema,
                         std::string* unit) {
  const json* u = Find(obj, "unit");
  const std::string& type = e.semantic_type();
  if (type.empty()) {
    if (u)
      return Err(path + ".unit",
                 "a unit needs a semantic type in @type, e.g. [\"Telemetry\", \"Temperature\"]");
    return Status::Ok();
  }
  if (!u) return Err(path, "missing unit (semantic type " + Quote(type) + " needs one)");
  if (!u->is_string()) return Err(path + ".unit", "expected a string");
  const auto& name = u->get_ref<const std::string&>();
  const auto* units = UnitsOfSemanticType(type);
  if (std::find(units->begin(), units->end(), name) == units->end()) {
    std::string list;
    for (auto x : *units) list += (list.empty() ? "" : ", ") + std::string(x);
    return Err(path + ".unit",
               "unit " + Quote(name) + " is not a unit of " + type + " (expected one of " + list + ")");
  }
  if (schema->kind != SchemaKind::kPrimitive || !IsNumeric(schema->primitive)) {
    return Err(path + ".schema", "semantic type " + Quote(type) + " needs a numeric schema");
  }
  *unit = name;
  return Status::Ok();
}

Status Parser::ParseBool(const json& obj, const std::string& path, std::string_view key, bool* out) {
  const json* v = Find(obj, key);
  if (!v) return Status::Ok();
  if (!v->is_boolean()) return Err(Member(path, key), "expected true or false");
  *out = v->get<bool>();
  return Status::Ok();
}

Status Parser::ParseMultiplicity(const json& obj, const std::string& path, std::string_view key, int64_t min,
                                 std::optional<int64_t>* out) {
  const json* v = Find(obj, key);
  if (!v) return Status::Ok();
  bool ok =
      v->is_number_integer() &&
      (v->is_number_unsigned() ? v->get<uint64_t>() <= INT32_MAX : v->get<int64_t>() <= INT32_MAX) &&
      (v->is_number_unsigned() ? static_cast<int64_t>(v->get<uint64_t>()) >= min : v->get<int64_t>() >= min);
  if (!ok) {
    return Err(Member(path, key), "expected an integer >= " + std::to_string(min));
  }
  *out = v->get<int64_t>();
  return Status::Ok();
}

bool ContainsArray(const Schema& s) {
  switch (s.kind) {
    case SchemaKind::kArray: return true;
    case SchemaKind::kObject:
      return std::any_of(s.fields.begin(), s.fields.end(),
                         [](const Field& f) { return ContainsArray(*f.schema); });
    case SchemaKind::kMap: return ContainsArray(*s.map_value.schema);
    default: return false;
  }
}

Status Parser::ParseContent(const json& obj, const std::string& path, bool relationship_property,
                            Content* c) {
  if (!obj.is_object()) return Err(path, "expected a content object");
  std::string cls;
  if (relationship_property) {
    DOPPEL_RETURN_IF_ERROR(ParseTypes(obj, path, {"Property"}, true, true, &cls, &c->co_types));
  } else {
    DOPPEL_RETURN_IF_ERROR(ParseTypes(obj, path,
                                      {"Telemetry", "Property", "Command", "Relationship", "Component"}, true,
                                      true, &cls, &c->co_types));
  }
  if (!c->co_types.empty() && cls != "Telemetry" && cls != "Property") {
    return Err(path + ".@type", "semantic type " + Quote(c->co_types[0]) + " is not allowed on a " + cls);
  }
  DOPPEL_RETURN_IF_ERROR(ParseCommon(obj, path, c));
  DOPPEL_RETURN_IF_ERROR(ParseName(obj, path, &c->name));
  const json* schema = Find(obj, "schema");
  if (cls == "Telemetry" || cls == "Property") {
    c->kind = cls == "Telemetry" ? ContentKind::kTelemetry : ContentKind::kProperty;
    if (c->kind == ContentKind::kTelemetry) {
      DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "a Telemetry", {"name", "schema", "unit"}));
    } else {
      DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "a Property", {"name", "schema", "unit", "writable"}));
      DOPPEL_RETURN_IF_ERROR(ParseBool(obj, path, "writable", &c->writable));
    }
    if (!schema) return Err(path, "missing schema");
    DOPPEL_RETURN_IF_ERROR(ParseSchema(*schema, path + ".schema", 1, &c->schema));
    if (version_ < 3 && c->kind == ContentKind::kProperty && ContainsArray(*c->schema)) {
      return Err(path + ".schema", "a Property schema may not contain an Array in DTDL v2");
    }
    return CheckUnit(obj, path, *c, c->schema, &c->unit);
  }
  if (cls == "Command") {
    c->kind = ContentKind::kCommand;
    if (version_ >= 3) {
      DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "a Command", {"name", "request", "response"}));
    } else {
      DOPPEL_RETURN_IF_ERROR(
          CheckKeys(obj, path, "a Command", {"name", "request", "response", "commandType"}));
      if (const json* t = Find(obj, "commandType"); t && *t != "synchronous" && *t != "asynchronous") {
        return Err(path + ".commandType", "expected 'synchronous' or 'asynchronous'");
      }
    }
    for (std::string_view key : {"request", "response"}) {
      const json* p = Find(obj, key);
      if (!p) continue;
      std::string_view pcls = version_ < 3       ? "CommandPayload"
                              : key == "request" ? "CommandRequest"
                                                 : "CommandResponse";
      Field f;
      DOPPEL_RETURN_IF_ERROR(ParseFieldLike(*p, Member(path, key), 1, pcls, true, true, &f));
      (key == "request" ? c->request : c->response) = std::move(f);
    }
    return Status::Ok();
  }
  if (cls == "Relationship") {
    c->kind = ContentKind::kRelationship;
    DOPPEL_RETURN_IF_ERROR(
        CheckKeys(obj, path, "a Relationship",
                  {"name", "target", "minMultiplicity", "maxMultiplicity", "writable", "properties"}));
    if (const json* t = Find(obj, "target")) {
      if (!t->is_string() || !IsDtmi(t->get<std::string>(), version_, false)) {
        return Err(path + ".target", "expected an interface DTMI");
      }
      c->target = t->get<std::string>();
    }
    DOPPEL_RETURN_IF_ERROR(ParseMultiplicity(obj, path, "minMultiplicity", 0, &c->min_multiplicity));
    DOPPEL_RETURN_IF_ERROR(ParseMultiplicity(obj, path, "maxMultiplicity", 1, &c->max_multiplicity));
    if (version_ < 3 && c->min_multiplicity && *c->min_multiplicity != 0) {
      return Err(path + ".minMultiplicity", "must be 0 in DTDL v2");
    }
    if (c->min_multiplicity && c->max_multiplicity && *c->min_multiplicity > *c->max_multiplicity) {
      return Err(path + ".minMultiplicity", "greater than maxMultiplicity");
    }
    DOPPEL_RETURN_IF_ERROR(ParseBool(obj, path, "writable", &c->writable));
    if (const json* props = Find(obj, "properties")) {
      if (!props->is_array()) return Err(path + ".properties", "expected an array");
      std::set<std::string> names;
      for (size_t i = 0; i < props->size(); ++i) {
        const std::string ppath = Index(path + ".properties", i);
        Content p;
        DOPPEL_RETURN_IF_ERROR(ParseContent((*props)[i], ppath, true, &p));
        if (!names.insert(p.name).second) return Err(ppath + ".name", "duplicate name " + Quote(p.name));
        c->properties.push_back(std::move(p));
      }
    }
    return Status::Ok();
  }
  // Component
  c->kind = ContentKind::kComponent;
  DOPPEL_RETURN_IF_ERROR(CheckKeys(obj, path, "a Component", {"name", "schema"}));
  if (!schema) return Err(path, "missing schema");
  if (!schema->is_string() || !IsDtmi(schema->get<std::string>(), version_, false)) {
    return Err(path + ".schema", "a Component schema must be an interface DTMI");
  }
  c->component = schema->get<std::string>();
  return Status::Ok();
}

Status Parser::ParseInterfaceObject(const json& j, const std::string& path, Interface* out) {
  if (!j.is_object()) return Err(path, "expected an interface object");
  out->source = source_;
  out->path = path;
  DOPPEL_RETURN_IF_ERROR(ParseContext(j, path, out));
  DOPPEL_RETURN_IF_ERROR(CheckKeys(j, path, "an Interface", {"@context", "contents", "extends", "schemas"}));
  std::string cls;
  DOPPEL_RETURN_IF_ERROR(ParseTypes(j, path, {"Interface"}, true, false, &cls, &out->co_types));
  const json* id = Find(j, "@id");
  if (!id) return Err(path, "missing @id");
  if (!id->is_string() || !IsDtmi(id->get<std::string>(), version_, true)) {
    return Err(path + ".@id",
               (id->is_string() ? "invalid DTMI " + Quote(id->get<std::string>()) : "expected a DTMI") +
                   " (expected dtmi:<segment>(:<segment>)*;<version>)");
  }
  DOPPEL_RETURN_IF_ERROR(ParseCommon(j, path, out));

  if (const json* ext = Find(j, "extends")) {
    const std::string epath = path + ".extends";
    std::vector<std::pair<std::string, const json*>> items;
    if (ext->is_array()) {
      for (size_t i = 0; i < ext->size(); ++i) items.emplace_back(Index(epath, i), &(*ext)[i]);
    } else {
      items.emplace_back(epath, ext);
    }
    if (version_ < 3 && items.size() > 2)
      return Err(epath, "at most 2 interfaces may be extended in DTDL v2");
    for (const auto& [ipath, v] : items) {
      if (!v->is_string() || !IsDtmi(v->get<std::string>(), version_, true)) {
        return Err(ipath, "expected an interface DTMI");
      }
      if (*v == out->id) return Err(ipath, "an interface cannot extend itself");
      out->extends.push_back(v->get<std::string>());
    }
  }

  SchemaTable table;
  if (const json* schemas = Find(j, "schemas")) {
    if (!schemas->is_array()) return Err(path + ".schemas", "expected an array");
    for (size_t i = 0; i < schemas->size(); ++i) {
      const std::string spath = Index(path + ".schemas", i);
      const json& sj = (*schemas)[i];
      if (!sj.is_object()) return Err(spath, "expected a complex schema object (Array, Enum, Map or Object)");
      auto s = std::make_shared<Schema>();
      DOPPEL_RETURN_IF_ERROR(ParseComplexSchema(sj, spath, 1, s.get()));
      if (s->id.empty()) return Err(spath, "missing @id (entries of schemas are referenced by it)");
      if (s->id == out->id) return Err(spath + ".@id", "same @id as the interface");
      if (!table.emplace(s->id, SchemaDef{s, source_}).second) {
        return Err(spath + ".@id", "duplicate schema @id " + Quote(s->id));
      }
      out->schemas.push_back(std::move(s));
    }
  }

  if (const json* contents = Find(j, "contents")) {
    if (!contents->is_array()) return Err(path + ".contents", "expected an array");
    std::map<std::string, std::string> names;  // name -> path
    for (size_t i = 0; i < contents->size(); ++i) {
      const std::string cpath = Index(path + ".contents", i);
      Content c;
      DOPPEL_RETURN_IF_ERROR(ParseContent((*contents)[i], cpath, false, &c));
      auto [it, inserted] = names.emplace(c.name, cpath);
      if (!inserted)
        return Err(cpath + ".name", "duplicate content name " + Quote(c.name) + " (also " + it->second + ")");
      c.defined_in = out->id;
      out->contents.push_back(std::move(c));
    }
  }
  out->all_contents = out->contents;
  return ResolveSchemaReferences(*out, table, false);
}

Result<json> ParseJson(std::string_view text, const std::string& source) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 && pos != std::string::npos) {
      what = what.substr(pos + 2);
    }
    return InvalidArgument(source + ": $: invalid JSON: " + what);
  }
}

}  // namespace

Result<std::vector<Interface>> ParseModelFile(std::string_view json_text, const std::string& source_name) {
  try {
    auto doc = ParseJson(json_text, source_name);
    if (!doc.ok()) return doc.status();
    std::vector<Interface> out;
    if (doc->is_array()) {
      if (doc->empty()) return InvalidArgument(source_name + ": $: empty array (expected interfaces)");
      for (size_t i = 0; i < doc->size(); ++i) {
        Interface iface;
        DOPPEL_RETURN_IF_ERROR(Parser(source_name).ParseInterfaceObject((*doc)[i], Index("$", i), &iface));
        out.push_back(std::move(iface));
      }
    } else {
      Interface iface;
      DOPPEL_RETURN_IF_ERROR(Parser(source_name).ParseInterfaceObject(*doc, "$", &iface));
      out.push_back(std::move(iface));
    }
    return out;
  } catch (const std::exception& e) {  // a bug, not an expected failure; still never escapes
    return Internal(source_name + ": $: unexpected error while parsing: " + e.what());
  }
}

Result<Interface> ParseInterface(std::string_view json_text, const std::string& source_name) {
  try {
    auto doc = ParseJson(json_text, source_name);
    if (!doc.ok()) return doc.status();
    Interface iface;
    DOPPEL_RETURN_IF_ERROR(Parser(source_name).ParseInterfaceObject(*doc, "$", &iface));
    return iface;
  } catch (const std::exception& e) {
    return Internal(source_name + ": $: unexpected error while parsing: " + e.what());
  }
}

}  // namespace doppel::model
