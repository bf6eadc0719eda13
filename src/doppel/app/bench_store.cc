// `doppel bench store`: the series store against SQLite on the same real data, in one run.
//
// Data: every NAB csv (../shared/data/nab/data/<category>/*.csv, one series per file, replayed
// with its own timestamps) and C-MAPSS FD001 train + test (one series per engine and column,
// the cycle number as the timestamp in seconds). Measures
//  1. writes: the corpus appended in batches of 1000 readings (store: WAL with the default
//     kInterval fsync, then a checkpoint; SQLite: a rows(series, ts, value) table, WAL journal,
//     synchronous=NORMAL, index on (series, ts), one transaction per batch, prepared insert);
//  2. bytes on disk per sample after both are flushed (store: chunk segments + WAL; SQLite:
//     database + WAL after a TRUNCATE checkpoint);
//  3. a downsampled query over one series of >= 1M samples (the NAB corpus replayed end to end,
//     each file shifted after the previous one, its own intervals kept): the store's M4 query
//     to 1000 points vs SQLite's GROUP BY bucket computing min/max/first/last per bucket.
// Prints a table and, last, one JSON line.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "doppel/platform/env.h"
#include "doppel/store/series_store.h"

namespace doppel::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using store::Sample;

struct Series {
  std::string twin, signal;
  std::vector<Sample> samples;
};

std::string Opt(const std::vector<std::string>& args, const std::string& key, const std::string& def) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--" + key + "=", 0) == 0) return args[i].substr(key.size() + 3);
    if (args[i] == "--" + key && i + 1 < args.size()) return args[i + 1];
  }
  return def;
}

double Seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool LoadNab(const fs::path& root, std::vector<Series>* out) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root / "nab" / "data", ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().extension() == ".csv") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::ifstream in(f);
    std::string line;
    std::getline(in, line);  // header
    Series s{"nab-" + f.parent_path().filename().string(), f.stem().string(), {}};
    while (std::getline(in, line)) {
      const auto comma = line.find(',');
      if (comma == std::string::npos) continue;
      std::tm tm{};
      if (strptime(line.substr(0, comma).c_str(), "%Y-%m-%d %H:%M:%S", &tm) == nullptr) continue;
      s.samples.push_back(
          {static_cast<TimeNs>(timegm(&tm)) * kNsPerS, std::strtod(line.c_str() + comma + 1, nullptr)});
    }
    if (!s.samples.empty()) out->push_back(std::move(s));
  }
  return !files.empty();
}

void LoadCmapss(const fs::path& root, std::vector<Series>* out) {
  for (const char* name : {"train_FD001", "test_FD001"}) {
    std::ifstream in(root / "cmapss" / (std::string(name) + ".txt"));
    std::map<int, size_t> unit_base;  // unit -> index of its first column series in *out
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::vector<double> row;
      double x;
      while (ls >> x) row.push_back(x);
      if (row.size() < 26) continue;
      const int unit = static_cast<int>(row[0]);
      auto [it, fresh] = unit_base.try_emplace(unit, out->size());
      if (fresh) {
        for (int c = 2; c < 26; ++c) {
          std::string col = c < 5 ? fmt::format("setting{}", c - 1) : fmt::format("sensor{:02d}", c - 4);
          out->push_back({fmt::format("cmapss-{}-{:03d}", name, unit), col, {}});
        }
      }
      for (int c = 2; c < 26; ++c) {
        (*out)[it->second + c - 2].samples.push_back({static_cast<TimeNs>(row[1]) * kNsPerS, row[c]});
      }
    }
  }
}

uint64_t DirBytes(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

bool Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::cerr << "sqlite: " << (err ? err : "?") << " in " << sql << "\n";
    sqlite3_free(err);
    return false;
  }
  return true;
}

// Writes `data` (series ids from `first_id`) in batches of `batch` rows.
bool SqliteWrite(sqlite3* db, const std::vector<Series>& data, int first_id, size_t batch) {
  sqlite3_stmt* ins = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO rows(series, ts, value) VALUES (?, ?, ?)", -1, &ins, nullptr) !=
      SQLITE_OK)
    return false;
  size_t in_tx = 0;
  bool ok = Exec(db, "BEGIN");
  for (size_t i = 0; i < data.size() && ok; ++i) {
    for (const Sample& x : data[i].samples) {
      sqlite3_bind_int(ins, 1, first_id + static_cast<int>(i));
      sqlite3_bind_int64(ins, 2, x.ts_ns);
      sqlite3_bind_double(ins, 3, x.value);
      ok = ok && sqlite3_step(ins) == SQLITE_DONE;
      sqlite3_reset(ins);
      if (++in_tx == batch) ok = ok && Exec(db, "COMMIT") && Exec(db, "BEGIN"), in_tx = 0;
    }
  }
  ok = ok && Exec(db, "COMMIT");
  sqlite3_finalize(ins);
  return ok;
}

// The readings of `data` in batches of `batch_size`, built before the clock starts (the SQLite
// side likewise binds values it already holds).
std::vector<std::vector<Reading>> Batches(const std::vector<Series>& data, size_t batch_size) {
  std::vector<std::vector<Reading>> out(1);
  for (const Series& ser : data) {
    for (const Sample& x : ser.samples) {
      if (out.back().size() == batch_size) out.emplace_back();
      out.back().push_back({ser.twin, ser.signal, x.ts_ns, x.value, Quality::kGood});
    }
  }
  return out;
}

bool StoreWrite(store::SeriesStore* s, const std::vector<std::vector<Reading>>& batches) {
  for (const auto& b : batches) {
    if (!s->Append(0, b).ok()) return false;
  }
  return true;
}

template <class F>
double MedianMs(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    f();
    t.push_back(Seconds(start) * 1e3);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int RunStoreBench(const std::vector<std::string>& args) {
  spdlog::set_level(spdlog::level::warn);
  const fs::path data_root = Opt(args, "data", "../shared/data");
  const size_t points = std::stoul(Opt(args, "points", "1000"));
  const fs::path work = Opt(
      args, "dir", (fs::temp_directory_path() / fmt::format("doppel-bench-store-{}", ::getpid())).string());
  std::vector<Series> corpus;
  if (!LoadNab(data_root, &corpus)) {
    std::cerr << "error: no NAB csv files under " << (data_root / "nab" / "data") << " (use --data=DIR)\n";
    return 2;
  }
  const size_t nab_series = corpus.size();
  LoadCmapss(data_root, &corpus);
  uint64_t samples = 0;
  for (const Series& s : corpus) samples += s.samples.size();
  // The long series for the query: the NAB files end to end, repeated until >= 1M samples.
  Series longs{"replay", "nab-end-to-end", {}};
  TimeNs offset = 0;
  while (longs.samples.size() < 1'000'000) {
    for (size_t i = 0; i < nab_series; ++i) {
      const auto& v = corpus[i].samples;
      TimeNs shift = offset - v.front().ts_ns;
      TimeNs last = INT64_MIN;
      for (const Sample& x : v) {
        TimeNs t = x.ts_ns + shift;
        if (t <= last) continue;  // keep it strictly increasing (a few NAB files repeat a stamp)
        longs.samples.push_back({t, x.value});
        last = t;
      }
      offset = last + 300 * kNsPerS;
    }
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work);
  std::cout << fmt::format(
      "store bench: {} samples in {} series (NAB {} files, C-MAPSS FD001 {} series) from {}\n", samples,
      corpus.size(), nab_series, corpus.size() - nab_series, data_root.string());

  // ---- Store: write, checkpoint, size ----
  store::SeriesStoreOptions o;
  o.dir = (work / "store").string();
  o.checkpoint_wal_bytes = 0;  // one checkpoint at the end, timed
  double store_write_s = 0;
  uint64_t store_bytes = 0;
  double store_query_ms = 0;
  size_t store_points = 0;
  {
    auto s = store::SeriesStore::Open(platform::DefaultEnv(), o);
    if (!s.ok()) {
      std::cerr << "error: " << s.status().ToString() << "\n";
      return 1;
    }
    auto batches = Batches(corpus, 1000);
    auto t = Clock::now();
    if (!StoreWrite(s->get(), batches) || !(*s)->Checkpoint().ok()) {
      std::cerr << "error: store write failed\n";
      return 1;
    }
    store_write_s = Seconds(t);
    store_bytes = DirBytes(o.dir);
    batches = Batches({longs}, 1000);
    if (!StoreWrite(s->get(), batches)) return 1;
    const TimeNs from = longs.samples.front().ts_ns, to = longs.samples.back().ts_ns;
    store_query_ms = MedianMs(
        5, [&] { store_points = (*s)->Query("replay", "nab-end-to-end", from, to, points)->size(); });
  }
  // ---- SQLite: same data, same shape ----
  sqlite3* db = nullptr;
  const std::string db_path = (work / "rows.db").string();
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return 1;
  bool ok = Exec(db, "PRAGMA journal_mode=WAL") && Exec(db, "PRAGMA synchronous=NORMAL") &&
            Exec(db, "CREATE TABLE rows(series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL)") &&
            Exec(db, "CREATE INDEX rows_series_ts ON rows(series, ts)");
  auto t = Clock::now();
  ok = ok && SqliteWrite(db, corpus, 0, 1000) && Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  const double sqlite_write_s = Seconds(t);
  const uint64_t sqlite_bytes =
      fs::file_size(db_path) + (fs::exists(db_path + "-wal") ? fs::file_size(db_path + "-wal") : 0);
  const int long_id = static_cast<int>(corpus.size());
  ok = ok && SqliteWrite(db, {longs}, long_id, 1000);
  double sqlite_query_ms = 0;
  size_t sqlite_rows = 0;
  if (ok) {
    const TimeNs from = longs.samples.front().ts_ns, to = longs.samples.back().ts_ns;
    const int64_t buckets = static_cast<int64_t>(points / 4);
    const int64_t bucket_ns = (to - from) / buckets + 1;  // integer buckets, no overflow
    sqlite3_stmt* q = nullptr;
    ok = sqlite3_prepare_v2(db,
                            "SELECT (ts - ?2) / ?4 AS b, MIN(ts), MAX(ts), MIN(value), MAX(value), COUNT(*) "
                            "FROM rows WHERE series = ?1 AND ts BETWEEN ?2 AND ?3 GROUP BY b ORDER BY b",
                            -1, &q, nullptr) == SQLITE_OK;
    if (ok) {
      sqlite_query_ms = MedianMs(5, [&] {
        sqlite3_bind_int(q, 1, long_id);
        sqlite3_bind_int64(q, 2, from);
        sqlite3_bind_int64(q, 3, to);
        sqlite3_bind_int64(q, 4, bucket_ns);
        sqlite_rows = 0;
        while (sqlite3_step(q) == SQLITE_ROW) ++sqlite_rows;
        sqlite3_reset(q);
      });
      sqlite3_finalize(q);
    }
  }
  sqlite3_close(db);
  if (Opt(args, "keep", "0") != "1") fs::remove_all(work, ec);
  if (!ok) {
    std::cerr << "error: sqlite side failed\n";
    return 1;
  }
  const double bps = static_cast<double>(store_bytes) / samples;
  const double sqlite_bps = static_cast<double>(sqlite_bytes) / samples;
  const double w = samples / store_write_s, sw = samples / sqlite_write_s;
  std::cout << fmt::format("{:<34} {:>14} {:>14} {:>8}\n", "", "doppel store", "sqlite", "ratio");
  std::cout << fmt::format("{:<34} {:>14.0f} {:>14.0f} {:>7.1f}x\n", "write (samples/s, incl. flush)", w, sw,
                           w / sw);
  std::cout << fmt::format("{:<34} {:>14.3f} {:>14.3f} {:>7.1f}x\n", "bytes on disk per sample", bps,
                           sqlite_bps, sqlite_bps / bps);
  std::cout << fmt::format(
      "{:<34} {:>14.2f} {:>14.2f} {:>7.1f}x\n",
      fmt::format("query {}k samples -> {} pts (ms)", longs.samples.size() / 1000, points), store_query_ms,
      sqlite_query_ms, sqlite_query_ms / store_query_ms);
  std::cout << fmt::format(
      "(store returned {} M4 points; sqlite {} GROUP BY buckets; Gorilla's published figure is "
      "1.37 bytes/sample)\n",
      store_points, sqlite_rows);
  std::cout << fmt::format(
      "{{\"bench\":\"store\",\"samples\":{},\"series\":{},\"bytes_per_sample\":{:.4f},\"sqlite_bytes_per_"
      "sample\":{:.4f},"
      "\"write_samples_per_s\":{:.0f},\"sqlite_write_samples_per_s\":{:.0f},\"write_ratio_vs_sqlite\":{:.2f},"
      "\"query_samples\":{},\"query_ms\":{:.3f},\"sqlite_query_ms\":{:.3f},\"query_ratio_vs_sqlite\":{:.2f}}}"
      "\n",
      samples, corpus.size(), bps, sqlite_bps, w, sw, w / sw, longs.samples.size(), store_query_ms,
      sqlite_query_ms, sqlite_query_ms / store_query_ms);
  return 0;
}

}  // namespace doppel::app
