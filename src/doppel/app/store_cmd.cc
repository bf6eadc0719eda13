// `doppel store stats|check|export`: inspect a series store offline (docs/storage.md).
// DIR may be a doppel data_dir (the store is DIR/series) or the store directory itself.
// stats and export open the store read-only (nothing on disk changes); check reads every file
// itself and verifies every CRC, index, chunk and rollup block, exiting 1 on any damage.
#include <fmt/format.h>
#include <fnmatch.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "doppel/platform/env.h"
#include "doppel/store/chunk_codec.h"
#include "doppel/store/rollup.h"
#include "doppel/store/segment.h"
#include "doppel/store/series_store.h"
#include "doppel/store/wal_format.h"

namespace doppel::app {
namespace {

constexpr const char* kUsage =
    "usage: doppel store stats  --data DIR\n"
    "       doppel store check  --data DIR\n"
    "       doppel store export --data DIR [--series PATTERN] [--from T] [--to T]\n"
    "DIR is a doppel data_dir (store in DIR/series) or the store directory. PATTERN is a glob on\n"
    "\"twin/signal\" (default \"*\"). T is ns since the epoch or YYYY-MM-DDTHH:MM:SS[Z] (UTC).\n"
    "export writes CSV: twin,signal,ts_ns,value,quality. check exits 1 when anything is damaged.\n";

std::string Opt(const std::vector<std::string>& args, const std::string& key, const std::string& def) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--" + key + "=", 0) == 0) return args[i].substr(key.size() + 3);
    if (args[i] == "--" + key && i + 1 < args.size()) return args[i + 1];
  }
  return def;
}

bool ParseTime(const std::string& s, TimeNs* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end == '\0') {
    *out = v;
    return true;
  }
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr || (*rest != '\0' && std::string(rest) != "Z")) return false;
  *out = static_cast<TimeNs>(timegm(&tm)) * kNsPerS;
  return true;
}

std::string StoreDir(platform::Env* env, const std::string& data) {
  return env->FileExists(data + "/series") ? data + "/series" : data;
}

int Stats(platform::Env* env, const std::string& dir) {
  store::SeriesStoreOptions o;
  o.dir = dir;
  o.read_only = true;
  auto s = store::SeriesStore::Open(env, o);
  if (!s.ok()) {
    std::cerr << "error: " << s.status().ToString() << "\n";
    return 1;
  }
  auto st = (*s)->Stats();
  const auto& r = (*s)->recovery();
  std::cout << fmt::format("store:            {}\n", dir);
  std::cout << fmt::format("series:           {}\n", st.series);
  std::cout << fmt::format("samples:          {}\n", st.samples);
  std::cout << fmt::format("chunks:           {} ({} bytes encoded), {} samples in heads\n", st.chunks,
                           st.chunk_bytes, st.head_samples);
  std::cout << fmt::format("bytes on disk:    {} (chunk segments {}, WAL {}, rollups {})\n", st.bytes_on_disk,
                           st.chunk_segment_bytes, st.wal_bytes, st.rollup_file_bytes);
  std::cout << fmt::format("rollups:          {} buckets in {} series; {} files, {} bytes\n",
                           st.rollup_buckets, st.rollup_series, st.rollup_files, st.rollup_file_bytes);
  std::cout << fmt::format("bytes per sample: {:.3f}\n",
                           st.samples ? static_cast<double>(st.bytes_on_disk) / st.samples : 0.0);
  std::cout << fmt::format("wal replayed:     {} readings; {} warnings\n", r.readings, r.warnings.size());
  for (const auto& w : r.warnings) std::cout << "warning: " << w << "\n";
  return 0;
}

int Check(platform::Env* env, const std::string& dir) {
  auto names = env->ListDir(dir);
  if (!names.ok()) {
    std::cerr << "error: " << names.status().ToString() << "\n";
    return 1;
  }
  int damaged = 0, files = 0;
  uint64_t chunks = 0, records = 0, rollup_buckets = 0;
  for (const std::string& n : *names) {
    const std::string path = dir + "/" + n;
    uint64_t seq;
    int lane;
    if (store::segment::ParseFileName(n, &seq)) {
      ++files;
      auto data = env->ReadFile(path);
      store::segment::Contents c;
      Status st = data.ok() ? store::segment::Parse(*data, &c) : data.status();
      if (!st.ok()) {
        std::cout << fmt::format("DAMAGED {}: {}\n", n, st.message());
        ++damaged;
        continue;
      }
      for (const auto& s : c.series) {
        for (const auto& e : s.chunks) {
          std::string_view bytes;
          std::vector<store::Sample> samples;
          Status cs = store::segment::ReadChunk(*data, e, &bytes);
          if (cs.ok()) cs = store::DecodeChunk(bytes, &samples);
          ++chunks;
          if (!cs.ok()) {
            std::cout << fmt::format("DAMAGED {}: chunk of {}/{} at offset {}: {}\n", n, s.twin, s.signal,
                                     e.offset, cs.message());
            ++damaged;
          }
        }
      }
    } else if (store::rollupfile::ParseFileName(n, &seq)) {
      ++files;
      auto data = env->ReadFile(path);
      store::rollupfile::Contents c;
      std::vector<std::string> bad;
      Status st = data.ok() ? store::rollupfile::Parse(*data, &c, &bad) : data.status();
      if (!st.ok()) {
        std::cout << fmt::format("DAMAGED {}: {}\n", n, st.message());
        ++damaged;
        continue;
      }
      for (const auto& b : bad) {
        std::cout << fmt::format("DAMAGED {}: {}\n", n, b);
        ++damaged;
      }
      for (const auto& sr : c.series) {
        for (const auto& l : sr.levels) rollup_buckets += l.buckets.size();
      }
    } else if (store::wal::ParseSegmentFileName(n, &lane, &seq)) {
      ++files;
      auto data = env->ReadFile(path);
      if (!data.ok()) {
        std::cout << fmt::format("DAMAGED {}: {}\n", n, data.status().message());
        ++damaged;
        continue;
      }
      store::wal::SegmentReader reader(*data);
      std::vector<store::wal::WalSample> batch;
      store::wal::SegmentReader::Outcome o;
      while ((o = reader.Next(&batch)) == store::wal::SegmentReader::Outcome::kRecord) ++records;
      if (o == store::wal::SegmentReader::Outcome::kTorn) {
        // A torn tail is what a crash leaves; recovery truncates it. Not damage.
        std::cout << fmt::format("note {}: torn tail ({}), truncated at the next open\n", n, reader.error());
      } else if (o == store::wal::SegmentReader::Outcome::kCorrupt) {
        std::cout << fmt::format("DAMAGED {}: {}\n", n, reader.error());
        ++damaged;
      }
    }
  }
  std::cout << fmt::format("{}: {} files, {} chunks, {} WAL records, {} rollup buckets checked; {} damaged\n",
                           dir, files, chunks, records, rollup_buckets, damaged);
  return damaged == 0 ? 0 : 1;
}

int Export(platform::Env* env, const std::string& dir, const std::vector<std::string>& args) {
  const std::string pattern = Opt(args, "series", "*");
  TimeNs from = INT64_MIN, to = INT64_MAX;
  const std::string f = Opt(args, "from", ""), t = Opt(args, "to", "");
  if ((!f.empty() && !ParseTime(f, &from)) || (!t.empty() && !ParseTime(t, &to))) {
    std::cerr << "error: bad --from/--to (ns since the epoch or YYYY-MM-DDTHH:MM:SS[Z])\n";
    return 2;
  }
  store::SeriesStoreOptions o;
  o.dir = dir;
  o.read_only = true;
  auto s = store::SeriesStore::Open(env, o);
  if (!s.ok()) {
    std::cerr << "error: " << s.status().ToString() << "\n";
    return 1;
  }
  std::cout << "twin,signal,ts_ns,value,quality\n";
  for (const auto& key : (*s)->ListSeries()) {
    const std::string name = key.twin + "/" + key.signal;
    if (fnmatch(pattern.c_str(), name.c_str(), 0) != 0) continue;
    auto rows = (*s)->Query(key.twin, key.signal, from, to, 0);
    if (!rows.ok()) {
      std::cerr << "error: " << name << ": " << rows.status().ToString() << "\n";
      return 1;
    }
    for (const auto& x : *rows) {
      std::cout << fmt::format("{},{},{},{},{}\n", key.twin, key.signal, x.ts_ns, x.value,
                               QualityName(x.quality));
    }
  }
  return 0;
}

}  // namespace

int RunStoreCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  // Logs go to stderr so that stdout carries only the report or the CSV.
  spdlog::set_default_logger(spdlog::stderr_color_st("store"));
  spdlog::set_level(spdlog::level::warn);
  const std::string data = Opt(args, "data", "");
  if (data.empty()) {
    std::cerr << "error: --data DIR is required\n" << kUsage;
    return 2;
  }
  platform::Env* env = platform::DefaultEnv();
  const std::string dir = StoreDir(env, data);
  if (!env->FileExists(dir)) {
    std::cerr << "error: " << dir << ": no such directory\n";
    return 2;
  }
  if (args[0] == "stats") return Stats(env, dir);
  if (args[0] == "check") return Check(env, dir);
  if (args[0] == "export") return Export(env, dir, args);
  std::cerr << "error: unknown store command '" << args[0] << "'\n" << kUsage;
  return 2;
}

}  // namespace doppel::app
