// Env holders for the store tests: the same suites run on the POSIX Env (a fresh temp dir) and
// on the in-memory fault-injecting Env.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "doppel/platform/env.h"
#include "doppel/store/wal_format.h"

namespace doppel::store::testing {

class PosixEnvHolder {
 public:
  PosixEnvHolder() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "doppel-store-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
  }
  ~PosixEnvHolder() { std::filesystem::remove_all(root_); }
  platform::Env* env() { return platform::DefaultEnv(); }
  platform::MemEnv* mem() { return nullptr; }
  std::string dir() const { return root_ + "/series"; }

 private:
  std::string root_;
};

class MemEnvHolder {
 public:
  platform::Env* env() { return mem_.get(); }
  platform::MemEnv* mem() { return mem_.get(); }
  std::string dir() const { return "/data/series"; }

 private:
  std::unique_ptr<platform::MemEnv> mem_ = platform::NewMemEnv();
};

// Segment file paths in `dir`, in (lane, seq) order.
inline std::vector<std::string> SegmentPaths(platform::Env* env, const std::string& dir) {
  std::vector<std::pair<std::pair<int, uint64_t>, std::string>> segs;
  auto names = env->ListDir(dir);
  if (!names.ok()) return {};
  for (const auto& n : *names) {
    int lane;
    uint64_t seq;
    if (wal::ParseSegmentFileName(n, &lane, &seq)) segs.push_back({{lane, seq}, dir + "/" + n});
  }
  std::sort(segs.begin(), segs.end());
  std::vector<std::string> out;
  for (auto& s : segs) out.push_back(s.second);
  return out;
}

}  // namespace doppel::store::testing
