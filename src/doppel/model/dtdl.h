// DTDL v3 (and the v2 subset) interfaces: an in-memory model, a validating parser, a registry
// that links interfaces across files, and validation of JSON values against DTDL schemas.
//
// Every function here that reads outside input (model files, command requests, property values)
// never throws and never crashes on any input (fuzzed under fuzz/dtdl_fuzz.cc). Failures are
// kInvalidArgument whose message names the place:
//   model files:  "<file>: <json path>: <reason>", e.g.
//                 "examples/models/pump.json: $.contents[3].schema: unknown schema 'dobule'"
//   values:       "<json path>: <reason>", e.g. "$.request.speed_rpm: expected a number"
// What is supported and the validation rules: docs/dtdl.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::model {

// Built-in schemas. The v2 subset is boolean, date, dateTime, double, duration, float, integer,
// long, string, time and the geospatial ones (point ... multiPolygon).
enum class Primitive {
  kBoolean,
  kByte,
  kBytes,
  kDate,
  kDateTime,
  kDecimal,
  kDouble,
  kDuration,
  kFloat,
  kInteger,
  kLong,
  kShort,
  kString,
  kTime,
  kUnsignedByte,
  kUnsignedInteger,
  kUnsignedLong,
  kUnsignedShort,
  kUuid,
  kPoint,
  kMultiPoint,
  kLineString,
  kMultiLineString,
  kPolygon,
  kMultiPolygon,
};
const char* PrimitiveName(Primitive p);  // the DTDL spelling, e.g. "dateTime"
bool IsNumeric(Primitive p);             // byte..unsignedShort, decimal, double, float

struct Schema;
using SchemaPtr = std::shared_ptr<const Schema>;

// What every DTDL element may carry.
struct Element {
  std::string id;                     // optional @id (a DTMI); required for Interface and `schemas`
  std::vector<std::string> co_types;  // @type entries beside the element class: at most one
                                      // semantic type, e.g. "Temperature" (then `unit` is set)
  nlohmann::json display_name;        // a string or a language map {"en": "..."}; null when absent
  nlohmann::json description;         // likewise
  std::string comment;
  std::string path;                          // JSON path where it was declared, e.g. "$.contents[3]"
  const std::string& semantic_type() const;  // co_types[0] or ""
};

// A named, typed slot: Object field, MapKey, MapValue, CommandRequest, CommandResponse.
struct Field : Element {
  std::string name;
  SchemaPtr schema;
  std::string unit;       // set iff a semantic type is (Field, MapValue, request, response)
  bool nullable = false;  // CommandRequest / CommandResponse only (v3)
};

struct EnumValue : Element {
  std::string name;
  nlohmann::json value;  // an integer or a string, per the Enum's valueSchema
};

enum class SchemaKind { kPrimitive, kArray, kEnum, kMap, kObject, kReference };

struct Schema : Element {
  SchemaKind kind = SchemaKind::kPrimitive;
  Primitive primitive = Primitive::kString;      // kPrimitive
  SchemaPtr element;                             // kArray: elementSchema
  Primitive value_schema = Primitive::kInteger;  // kEnum: kInteger or kString
  std::vector<EnumValue> enum_values;            // kEnum
  std::vector<Field> fields;                     // kObject
  Field map_key, map_value;                      // kMap (map_key.schema is string)
  std::string ref;                               // kReference: DTMI of a schema in some `schemas`
  SchemaPtr target;                              // kReference: set once resolved (else null)

  // Follows references to the schema they name; *this when unresolved (kind stays kReference).
  const Schema& Resolved() const;
};

enum class ContentKind { kTelemetry, kProperty, kCommand, kRelationship, kComponent };
const char* ContentKindName(ContentKind k);  // "Telemetry", ...

struct Content : Element {
  ContentKind kind = ContentKind::kTelemetry;
  std::string name;
  SchemaPtr schema;                        // Telemetry, Property
  std::string unit;                        // Telemetry, Property: set iff a semantic type is
  bool writable = false;                   // Property, Relationship
  std::optional<Field> request, response;  // Command
  std::string target;                      // Relationship: target interface DTMI, empty = any
  std::optional<int64_t> min_multiplicity, max_multiplicity;  // Relationship
  std::vector<Content> properties;                            // Relationship: its Properties
  std::string component;   // Component: DTMI of the interface it is an instance of
  std::string defined_in;  // DTMI of the interface that declares it (differs when inherited)
};

struct Interface : Element {
  int dtdl_version = 3;                 // 3 or 2, from @context
  std::vector<std::string> extensions;  // further @context entries (quantitativeTypes;1)
  std::vector<std::string> extends;     // DTMIs
  std::vector<Content> contents;        // as declared here
  std::vector<SchemaPtr> schemas;       // reusable complex schemas, each with an @id
  std::string source;                   // file (or source name) it was parsed from
  // Declared plus inherited contents, inherited first. Equal to `contents` after parsing;
  // ModelRegistry fills in what `extends` brings. The lookups below search it.
  std::vector<Content> all_contents;

  const Content* FindContent(std::string_view name) const;
  const Content* FindTelemetry(std::string_view name) const;
  const Content* FindProperty(std::string_view name) const;
  const Content* FindCommand(std::string_view name) const;
  const Content* FindRelationship(std::string_view name) const;
  const Content* FindComponent(std::string_view name) const;
  std::vector<const Content*> Telemetry() const;  // name, schema, unit
  std::vector<const Content*> WritableProperties() const;
  std::vector<const Content*> OfKind(ContentKind kind) const;
};

// Parses one interface object. References to schemas that are not in this interface's
// `schemas` stay unresolved until ModelRegistry::Build (extends and components likewise).
Result<Interface> ParseInterface(std::string_view json_text, const std::string& source_name);
// Parses a model file: one interface object or an array of them ("$[2].contents[0]...").
Result<std::vector<Interface>> ParseModelFile(std::string_view json_text, const std::string& source_name);

// A consistent set of interfaces: every extends, component schema, relationship target and
// schema reference resolves inside it, with no cycles; inherited contents are merged.
class ModelRegistry {
 public:
  // kInvalidArgument naming the file and path of the first problem (a duplicate @id, an
  // unknown or cyclic reference, a content name clash through extends).
  static Result<ModelRegistry> Build(std::vector<Interface> interfaces);

  const Interface* Find(std::string_view dtmi) const;  // null when unknown
  std::vector<const Interface*> List() const;          // ordered by DTMI
  size_t size() const { return interfaces_.size(); }

 private:
  std::map<std::string, Interface, std::less<>> interfaces_;
};

// Loads every *.json file directly in `dir` (sorted by name) and builds the registry. kNotFound
// for a missing directory, kIOError for an unreadable file, kInvalidArgument naming the file.
Result<ModelRegistry> LoadModelsFromDirectory(const std::string& dir);

// Checks `value` against `schema`. Object fields are all required and unknown members are
// rejected; integers must be JSON integers within the schema's range; date/time strings must be
// in their ISO 8601 / RFC 3339 form. Errors: "<path>[.field|[i]]: <reason>".
Status ValidateValue(const Schema& schema, const nlohmann::json& value, const std::string& path);

// Checks a command's request body against the command's request schema, at path "$.request".
// kNotFound for a command the interface (with inherited contents) does not have. A command
// without a request accepts only null or {}; a nullable request accepts null.
Status ValidateCommandRequest(const Interface& iface, const std::string& command_name,
                              const nlohmann::json& request);

// Checks desired property values {"name": value, ...} at "$.desired.<name>": every name must
// be a writable Property of the interface and its value must match the Property's schema.
Status ValidateDesiredProperties(const Interface& iface, const nlohmann::json& desired);

// The interface as a DTDL JSON document (declared contents only, `writable` always explicit,
// schema references kept as DTMIs). ParseInterface(ToJson(i).dump()) gives back the same model.
nlohmann::json ToJson(const Interface& iface);
nlohmann::json ToJson(const ModelRegistry& registry);  // array of every interface, by DTMI

}  // namespace doppel::model
