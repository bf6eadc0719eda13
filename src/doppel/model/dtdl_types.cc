// Tables and small helpers of the DTDL model: built-in schemas, semantic types and units,
// DTMI and name syntax, interface lookups.
#include <array>
#include <utility>

#include "doppel/model/dtdl.h"
#include "doppel/model/dtdl_internal.h"

namespace doppel::model {

namespace {

struct PrimitiveInfo {
  Primitive p;
  const char* name;
  bool v2;       // part of DTDL v2
  bool numeric;  // may carry a semantic type
};

constexpr std::array<PrimitiveInfo, 25> kPrimitives = {{
    {Primitive::kBoolean, "boolean", true, false},
    {Primitive::kByte, "byte", false, true},
    {Primitive::kBytes, "bytes", false, false},
    {Primitive::kDate, "date", true, false},
    {Primitive::kDateTime, "dateTime", true, false},
    {Primitive::kDecimal, "decimal", false, true},
    {Primitive::kDouble, "double", true, true},
    {Primitive::kDuration, "duration", true, false},
    {Primitive::kFloat, "float", true, true},
    {Primitive::kInteger, "integer", true, true},
    {Primitive::kLong, "long", true, true},
    {Primitive::kShort, "short", false, true},
    {Primitive::kString, "string", true, false},
    {Primitive::kTime, "time", true, false},
    {Primitive::kUnsignedByte, "unsignedByte", false, true},
    {Primitive::kUnsignedInteger, "unsignedInteger", false, true},
    {Primitive::kUnsignedLong, "unsignedLong", false, true},
    {Primitive::kUnsignedShort, "unsignedShort", false, true},
    {Primitive::kUuid, "uuid", false, false},
    {Primitive::kPoint, "point", true, false},
    {Primitive::kMultiPoint, "multiPoint", true, false},
    {Primitive::kLineString, "lineString", true, false},
    {Primitive::kMultiLineString, "multiLineString", true, false},
    {Primitive::kPolygon, "polygon", true, false},
    {Primitive::kMultiPolygon, "multiPolygon", true, false},
}};

const PrimitiveInfo& Info(Primitive p) {
  for (const auto& i : kPrimitives) {
    if (i.p == p) return i;
  }
  return kPrimitives[12];  // unreachable: every enumerator is in the table
}

using Units = std::vector<std::string_view>;

// DTDL v3 QuantitativeTypes extension v1: semantic type -> units of its unit type.
const std::map<std::string_view, Units>& SemanticTypes() {
  static const auto* table = [] {
    const Units angle = {"degreeOfArc", "minuteOfArc", "radian", "secondOfArc", "turn"};
    const Units length = {"astronomicalUnit", "centimetre", "foot",       "inch",      "kilometre",   "metre",
                          "micrometre",       "mile",       "millimetre", "nanometre", "nauticalMile"};
    const Units power = {"gigawatt", "horsepower", "kilowatt", "megawatt", "microwatt", "milliwatt", "watt"};
    const Units density = {"gramPerCubicMetre", "kilogramPerCubicMetre", "microgramPerCubicMetre",
                           "milligramPerCubicMetre"};
    const Units force = {"newton", "ounce", "pound", "ton"};
    const Units unitless = {"partsPerBillion",  "partsPerMillion", "partsPerQuadrillion",
                            "partsPerTrillion", "percent",         "unity"};
    auto* t = new std::map<std::string_view, Units>{
        {"Acceleration", {"centimetrePerSecondSquared", "gForce", "metrePerSecondSquared"}},
        {"Angle", angle},
        {"AngularAcceleration", {"radianPerSecondSquared"}},
        {"AngularVelocity",
         {"degreePerSecond", "radianPerSecond", "revolutionPerMinute", "revolutionPerSecond"}},
        {"ApparentEnergy",
         {"gigavoltAmpereHour", "kilovoltAmpereHour", "megavoltAmpereHour", "voltAmpereHour"}},
        {"ApparentPower",
         {"gigavoltAmpere", "kilovoltAmpere", "megavoltAmpere", "millivoltAmpere", "voltAmpere"}},
        {"Area",
         {"acre", "hectare", "squareCentimetre", "squareFoot", "squareInch", "squareKilometre", "squareMetre",
          "squareMillimetre"}},
        {"Capacitance", {"farad", "microfarad", "millifarad", "nanofarad", "picofarad"}},
        {"Concentration", unitless},
        {"Current", {"ampere", "kiloampere", "microampere", "milliampere"}},
        {"DataRate",
         {"bitPerSecond", "bytePerSecond", "exbibitPerSecond", "exbibytePerSecond", "gibibitPerSecond",
          "gibibytePerSecond", "kibibitPerSecond", "kibibytePerSecond", "mebibitPerSecond",
          "mebibytePerSecond", "tebibitPerSecond", "tebibytePerSecond", "yobibitPerSecond",
          "yobibytePerSecond", "zebibitPerSecond", "zebibytePerSecond"}},
        {"DataSize",
         {"bit", "byte", "exbibit", "exbibyte", "gibibit", "gibibyte", "kibibit", "kibibyte", "mebibit",
          "mebibyte", "tebibit", "tebibyte", "yobibit", "yobibyte", "zebibit", "zebibyte"}},
        {"Density", density},
        {"Distance", length},
        {"ElectricCharge", {"ampereHour", "coulomb", "milliampereHour"}},
        {"Energy",
         {"britishThermalUnit", "electronvolt", "gigajoule", "gigawattHour", "joule",
          "kiloBritishThermalUnit", "kilojoule", "kilowattHour", "megaelectronvolt", "megajoule",
          "megawattHour", "milliwattHour", "terawattHour", "wattHour"}},
        {"EnergyRate",
         {"britishThermalUnitPerHour", "gigajoulePerHour", "joulePerHour", "kiloBritishThermalUnitPerHour",
          "kilojoulePerHour", "kilowattHourPerYear", "megajoulePerHour"}},
        {"Force", force},
        {"Frequency", {"gigahertz", "hertz", "kilohertz", "megahertz", "millihertz"}},
        {"Humidity", density},
        {"Illuminance", {"footcandle", "lux"}},
        {"Inductance", {"henry", "microhenry", "millihenry"}},
        {"IonizingRadiationDose",
         {"gray", "microgray", "microsievert", "milligray", "millisievert", "sievert"}},
        {"Irradiance", {"wattPerSquareMetre"}},
        {"Latitude", angle},
        {"Length", length},
        {"Longitude", angle},
        {"Luminance", {"candelaPerSquareMetre"}},
        {"Luminosity", power},
        {"LuminousFlux", {"lumen"}},
        {"LuminousIntensity", {"candela"}},
        {"MagneticFlux", {"maxwell", "weber"}},
        {"MagneticInduction", {"gauss", "tesla"}},
        {"Mass", {"gram", "kilogram", "massPound", "microgram", "milligram", "slug", "tonne"}},
        {"MassFlowRate",
         {"gramPerHour", "gramPerSecond", "kilogramPerHour", "kilogramPerSecond", "massPoundPerHour"}},
        {"Power", power},
        {"Pressure",
         {"bar", "decapascal", "hectopascal", "inchesOfMercury", "inchesOfWater", "kilopascal", "millibar",
          "millimetresOfMercury", "pascal", "poundPerSquareInch"}},
        {"Radioactivity", {"becquerel", "gigabecquerel", "kilobecquerel", "megabecquerel"}},
        {"ReactiveEnergy",
         {"gigavoltAmpereReactiveHour", "kilovoltAmpereReactiveHour", "megavoltAmpereReactiveHour",
          "voltAmpereReactiveHour"}},
        {"ReactivePower",
         {"gigavoltAmpereReactive", "kilovoltAmpereReactive", "megavoltAmpereReactive",
          "millivoltAmpereReactive", "voltAmpereReactive"}},
        {"RelativeDensity", unitless},
        {"RelativeHumidity", unitless},
        {"Resistance", {"kiloohm", "megaohm", "milliohm", "ohm"}},
        {"SoundPressure", {"bel", "decibel"}},
        {"Temperature", {"degreeCelsius", "degreeFahrenheit", "kelvin"}},
        {"Thrust", force},
        {"TimeSpan", {"day", "hour", "microsecond", "millisecond", "minute", "nanosecond", "second", "year"}},
        {"Torque", {"newtonMetre"}},
        {"Velocity",
         {"centimetrePerSecond", "kilometrePerHour", "kilometrePerSecond", "knot", "metrePerHour",
          "metrePerSecond", "milePerHour", "milePerSecond"}},
        {"Voltage", {"kilovolt", "megavolt", "microvolt", "millivolt", "volt"}},
        {"Volume",
         {"cubicCentimetre", "cubicFoot", "cubicInch", "cubicMetre", "fluidOunce", "gallon", "litre",
          "millilitre"}},
        {"VolumeFlowRate",
         {"cubicFootPerMinute", "cubicMetrePerHour", "cubicMetrePerMinute", "cubicMetrePerSecond",
          "gallonPerHour", "gallonPerMinute", "litrePerHour", "litrePerSecond", "millilitrePerHour",
          "millilitrePerSecond"}},
    };
    return t;
  }();
  return *table;
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

// [A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?
bool IsSegment(std::string_view s) {
  if (s.empty() || !IsAlpha(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_') return false;
  }
  return true;
}

// [1-9][0-9]{0,max_len-1}
bool IsNumberPart(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len || s.front() == '0') return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace

const char* PrimitiveName(Primitive p) { return Info(p).name; }
bool IsNumeric(Primitive p) { return Info(p).numeric; }

const char* ContentKindName(ContentKind k) {
  switch (k) {
    case ContentKind::kTelemetry: return "Telemetry";
    case ContentKind::kProperty: return "Property";
    case ContentKind::kCommand: return "Command";
    case ContentKind::kRelationship: return "Relationship";
    case ContentKind::kComponent: return "Component";
  }
  return "?";
}

const std::string& Element::semantic_type() const {
  static const std::string kNone;
  return co_types.empty() ? kNone : co_types.front();
}

const Schema& Schema::Resolved() const {
  const Schema* s = this;
  // References are acyclic once resolved (ResolveSchemaReferences rejects cycles).
  while (s->kind == SchemaKind::kReference && s->target) s = s->target.get();
  return *s;
}

const Content* Interface::FindContent(std::string_view name) const {
  for (const auto& c : all_contents) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {
const Content* FindOfKind(const Interface& i, std::string_view name, ContentKind kind) {
  const Content* c = i.FindContent(name);
  return c && c->kind == kind ? c : nullptr;
}
}  // namespace

const Content* Interface::FindTelemetry(std::string_view n) const {
  return FindOfKind(*this, n, ContentKind::kTelemetry);
}
const Content* Interface::FindProperty(std::string_view n) const {
  return FindOfKind(*this, n, ContentKind::kProperty);
}
const Content* Interface::FindCommand(std::string_view n) const {
  return FindOfKind(*this, n, ContentKind::kCommand);
}
const Content* Interface::FindRelationship(std::string_view n) const {
  return FindOfKind(*this, n, ContentKind::kRelationship);
}
const Content* Interface::FindComponent(std::string_view n) const {
  return FindOfKind(*this, n, ContentKind::kComponent);
}

std::vector<const Content*> Interface::OfKind(ContentKind kind) const {
  std::vector<const Content*> out;
  for (const auto& c : all_contents) {
    if (c.kind == kind) out.push_back(&c);
  }
  return out;
}

std::vector<const Content*> Interface::Telemetry() const { return OfKind(ContentKind::kTelemetry); }

std::vector<const Content*> Interface::WritableProperties() const {
  std::vector<const Content*> out;
  for (const auto& c : all_contents) {
    if (c.kind == ContentKind::kProperty && c.writable) out.push_back(&c);
  }
  return out;
}

namespace internal {

std::optional<Primitive> PrimitiveFromName(std::string_view name, int version) {
  for (const auto& i : kPrimitives) {
    if (name == i.name && (version >= 3 || i.v2)) return i.p;
  }
  return std::nullopt;
}

const std::vector<std::string_view>* UnitsOfSemanticType(std::string_view type) {
  const auto& t = SemanticTypes();
  auto it = t.find(type);
  return it == t.end() ? nullptr : &it->second;
}

bool IsDtmi(std::string_view s, int version, bool require_version) {
  constexpr std::string_view kPrefix = "dtmi:";
  if (s.size() > 4096 || s.substr(0, kPrefix.size()) != kPrefix) return false;
  s.remove_prefix(kPrefix.size());
  std::string_view path = s;
  std::string_view ver;
  if (auto semi = s.find(';'); semi != std::string_view::npos) {
    path = s.substr(0, semi);
    ver = s.substr(semi + 1);
    if (auto dot = ver.find('.'); dot != std::string_view::npos) {
      if (version < 3 || !IsNumberPart(ver.substr(0, dot), 9) || !IsNumberPart(ver.substr(dot + 1), 6))
        return false;
    } else if (!IsNumberPart(ver, 9)) {
      return false;
    }
  } else if (require_version) {
    return false;
  }
  while (true) {
    auto colon = path.find(':');
    if (!IsSegment(path.substr(0, colon))) return false;
    if (colon == std::string_view::npos) return true;
    path.remove_prefix(colon + 1);
  }
}

bool IsValidName(std::string_view s, size_t max_len) { return s.size() <= max_len && IsSegment(s); }

}  // namespace internal
}  // namespace doppel::model
