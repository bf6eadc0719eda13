// `doppel import --kind workorders|specs --file F --data DIR [--dry-run] [--format csv|json]
//                [--allow-unknown-twins]`
//
// Imports maintenance work orders or design specifications into DIR/context.db (docs/enterprise.md).
// The file is validated whole first: every bad row is printed ("F line 7: completed_ns: ...") and
// nothing is applied (exit 1). Otherwise all rows are applied in one transaction and a summary is
// printed (exit 0). When DIR/meta.db exists, rows naming a twin it does not know are errors unless
// --allow-unknown-twins. --dry-run validates only and writes nothing. Usage errors exit 2.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "doppel/app/commands.h"
#include "doppel/store/context_import.h"
#include "doppel/store/metadata.h"

namespace doppel::app {
namespace {

constexpr const char* kUsage =
    "usage: doppel import --kind workorders|specs --file F --data DIR [--dry-run] [--format csv|json]\n"
    "                     [--allow-unknown-twins]\n"
    "Imports work orders or design specs (CSV or JSON, docs/enterprise.md) into DIR/context.db.\n"
    "Every bad row is reported and nothing is applied when there is any (exit 1).\n";

struct ImportArgs {
  std::string kind, file, data, format;
  bool dry_run = false, allow_unknown_twins = false, help = false;
};

Result<ImportArgs> ParseArgs(const std::vector<std::string>& args) {
  ImportArgs a;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string key = args[i], value;
    bool has_value = false;
    if (auto eq = key.find('='); key.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    if (key == "--help" || key == "-h") {
      a.help = true;
      continue;
    }
    if (key == "--dry-run" || key == "--allow-unknown-twins") {
      if (has_value) return InvalidArgument(key + ": takes no value");
      (key == "--dry-run" ? a.dry_run : a.allow_unknown_twins) = true;
      continue;
    }
    std::string* slot = key == "--kind"     ? &a.kind
                        : key == "--file"   ? &a.file
                        : key == "--data"   ? &a.data
                        : key == "--format" ? &a.format
                                            : nullptr;
    if (slot == nullptr) return InvalidArgument(fmt::format("unknown argument '{}'", args[i]));
    if (!has_value) {
      if (i + 1 >= args.size()) return InvalidArgument(key + ": needs a value");
      value = args[++i];
    }
    *slot = value;
  }
  return a;
}

}  // namespace

int RunImport(const std::vector<std::string>& args) {
  auto parsed = ParseArgs(args);
  if (!parsed.ok()) {
    std::cerr << "error: " << parsed.status().message() << "\n" << kUsage;
    return 2;
  }
  const ImportArgs& a = *parsed;
  if (a.help) {
    std::cout << kUsage;
    return 0;
  }
  auto usage = [](const std::string& msg) {
    std::cerr << "error: " << msg << "\n" << kUsage;
    return 2;
  };
  if (a.kind.empty()) return usage("--kind: required (workorders or specs)");
  auto kind = store::ParseContextKind(a.kind);
  if (!kind.ok()) return usage(kind.status().message());
  if (a.file.empty()) return usage("--file: required");
  if (a.data.empty()) return usage("--data: required (the serve data_dir)");
  store::ImportOptions o;
  if (a.format == "csv") {
    o.format = store::ImportFormat::kCsv;
  } else if (a.format == "json") {
    o.format = store::ImportFormat::kJson;
  } else if (!a.format.empty()) {
    return usage(fmt::format("--format: '{}' is not csv or json", a.format));
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(a.data, ec)) return usage("--data: " + a.data + " is not a directory");

  o.name = std::filesystem::path(a.file).filename().string();
  o.default_source = o.name;
  auto text = store::ReadImportFile(a.file, o.max_bytes);
  if (!text.ok()) return Fail(text.status());

  // The twins the platform knows, when this data_dir has them.
  std::set<std::string> twins;
  const std::string meta_path = a.data + "/meta.db";
  if (!a.allow_unknown_twins && std::filesystem::exists(meta_path, ec)) {
    auto meta = store::MetadataStore::Open(meta_path);
    if (!meta.ok()) return Fail(meta.status());
    auto list = (*meta)->ListTwins();
    if (!list.ok()) return Fail(list.status());
    for (const auto& t : *list) twins.insert(t.id);
    o.twin_exists = [&twins](const std::string& id) { return twins.count(id) > 0; };
  } else if (!a.allow_unknown_twins) {
    std::cerr << "note: " << meta_path << " not found; twin ids are not checked\n";
  }

  // A dry run opens no database, so it creates nothing.
  std::unique_ptr<store::ContextStore> db;
  const std::string db_path = a.data + "/context.db";
  if (!a.dry_run) {
    auto opened = store::ContextStore::Open(db_path);
    if (!opened.ok()) return Fail(opened.status());
    db = std::move(*opened);
  }
  auto r = store::ImportContext(db.get(), *kind, *text, o, a.dry_run);
  if (!r.ok()) return Fail(r.status());
  const char* what = *kind == store::ContextKind::kWorkOrders ? "work orders" : "design specs";
  if (!r->errors.empty()) {
    for (const auto& e : r->errors) std::cerr << e.ToString() << "\n";
    std::cerr << fmt::format("error: {}: {} error(s) in {} record(s); nothing applied\n", a.file,
                             r->errors.size(), r->records);
    return 1;
  }
  if (a.dry_run) {
    std::cout << fmt::format("dry run: {} {} valid in {}; nothing applied\n", r->records, what, a.file);
    return 0;
  }
  const auto& s = r->summary;
  std::cout << fmt::format("applied {} {} from {} to {}: {} inserted, {} updated, {} unchanged", r->records,
                           what, a.file, db_path, s.inserted, s.updated, s.unchanged);
  if (s.seq > 0) std::cout << fmt::format(" (change {})", s.seq);
  std::cout << "\n";
  return 0;
}

}  // namespace doppel::app
