// Builds .fmu archives for the FMU tests from the test models (tests/fmu/models: C sources built
// into DOPPEL_FMU_MODEL_DIR/<id>.so, modelDescription.xml next to them) with minizip.
#pragma once

#include <gtest/gtest.h>
#include <zip.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "doppel/core/status.h"
#include "testing/test_util.h"

namespace doppel::fmu::testing {

inline std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string ModelXml(const std::string& id) {
  return ReadText(doppel::testing::SourceDir() + "/tests/fmu/models/" + id + ".xml");
}
inline std::string ModelBinary(const std::string& id) {
  return std::string(DOPPEL_FMU_MODEL_DIR) + "/" + id + ".so";
}

// `s` with the first `from` replaced by `to`; throws when `from` is not there (a test set-up error).
inline std::string Replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  if (pos == std::string::npos) throw std::runtime_error("test setup: '" + from + "' not found");
  return s.replace(pos, from.size(), to);
}

// Expects `r` to be an error whose message contains `fragment`.
template <typename T>
void ExpectError(const Result<T>& r, const std::string& fragment) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning: " << fragment;
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

// Writes a zip at `path` with (archive name, contents) entries.
inline void WriteZip(const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& entries) {
  zipFile z = zipOpen64(path.c_str(), 0);
  if (z == nullptr) throw std::runtime_error("zipOpen64 " + path);
  for (const auto& [name, data] : entries) {
    if (zipOpenNewFileInZip64(z, name.c_str(), nullptr, nullptr, 0, nullptr, 0, nullptr, Z_DEFLATED,
                              Z_DEFAULT_COMPRESSION, 0) != ZIP_OK ||
        zipWriteInFileInZip(z, data.data(), static_cast<unsigned>(data.size())) != ZIP_OK ||
        zipCloseFileInZip(z) != ZIP_OK) {
      zipClose(z, nullptr);
      throw std::runtime_error("zip write " + name);
    }
  }
  zipClose(z, nullptr);
}

// The binaries/ directory of this machine for test model `id`: its FMI 3.0 variants (ids ending in
// "_fmi3") use 3.0's name, the others 2.0's.
inline std::string PlatformDir(const std::string& id) {
  const std::string suffix = "_fmi3";
  const bool v3 =
      id.size() > suffix.size() && id.compare(id.size() - suffix.size(), suffix.size(), suffix) == 0;
  return v3 ? "x86_64-linux" : "linux64";
}

// An FMU of test model `id` in `dir`: its XML (or `xml` when given) and its binary for this
// platform (omitted when with_binary is false).
inline std::string PackFmu(const doppel::testing::TempDir& dir, const std::string& id, std::string xml = "",
                           bool with_binary = true, const std::string& file_name = "") {
  std::vector<std::pair<std::string, std::string>> entries;
  entries.emplace_back("modelDescription.xml", xml.empty() ? ModelXml(id) : std::move(xml));
  if (with_binary)
    entries.emplace_back("binaries/" + PlatformDir(id) + "/" + id + ".so", ReadText(ModelBinary(id)));
  const std::string path = dir.file((file_name.empty() ? id : file_name) + ".fmu");
  WriteZip(path, entries);
  return path;
}

}  // namespace doppel::fmu::testing
