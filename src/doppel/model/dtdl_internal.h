// Internals shared by the model module's .cc files. Not part of the public API.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/dtdl.h"

namespace doppel::model::internal {

inline constexpr std::string_view kContextV3 = "dtmi:dtdl:context;3";
inline constexpr std::string_view kContextV2 = "dtmi:dtdl:context;2";
inline constexpr std::string_view kQuantitativeTypes = "dtmi:dtdl:extension:quantitativeTypes;1";

// The built-in schema named `name` in DTDL `version` (2 or 3); nullopt when there is none.
std::optional<Primitive> PrimitiveFromName(std::string_view name, int version);

// The units of a QuantitativeTypes semantic type ("Temperature" -> degreeCelsius, ...); null
// when `type` is not a semantic type.
const std::vector<std::string_view>* UnitsOfSemanticType(std::string_view type);

// dtmi:<segment>(:<segment>)*[;<version>], segments [A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?,
// version [1-9][0-9]{0,8} (v3 also .[1-9][0-9]{0,5}). No std::regex: it recurses per character.
bool IsDtmi(std::string_view s, int version, bool require_version);
// ^[a-zA-Z](?:[a-zA-Z0-9_]*[a-zA-Z0-9])?$ and at most max_len characters.
bool IsValidName(std::string_view s, size_t max_len);

// Where a shared schema with an @id lives, for resolving references and naming errors.
struct SchemaDef {
  SchemaPtr schema;
  std::string source;
};
using SchemaTable = std::map<std::string, SchemaDef, std::less<>>;

// Points every kReference schema reachable from `iface` (and from the table entries it reaches)
// at its definition in `table`. Cycles are errors. An unknown reference is an error when
// `require_all`, else it stays unresolved. Errors: "<source>: <path>: <reason>".
Status ResolveSchemaReferences(const Interface& iface, const SchemaTable& table, bool require_all);

}  // namespace doppel::model::internal
