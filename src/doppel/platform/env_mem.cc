// In-memory Env with fault injection (disk full, power loss, bit rot), for tests.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "doppel/platform/env.h"

namespace doppel::platform {
namespace {

struct MemFile {
  std::string data;
  size_t synced = 0;  // data[0, synced) survives DropUnsyncedData
  // Like Linux after fsync(2) returned EIO: the pages then dirty were dropped (marked clean), so
  // data from here on never becomes durable, however often the file is synced again.
  size_t lost_from = std::string::npos;
  size_t Durable() const { return std::min(synced, lost_from); }
};

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class MemEnvImpl;

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(MemEnvImpl* env, std::string path, std::shared_ptr<MemFile> file)
      : env_(env), path_(std::move(path)), file_(std::move(file)) {}
  Status Append(std::string_view data) override;
  Status Flush() override {
    return closed_ ? FailedPrecondition(path_ + ": flush after close") : Status::Ok();
  }
  Status Sync() override;
  Status Close() override {
    closed_ = true;
    return Status::Ok();
  }

 private:
  MemEnvImpl* env_;
  std::string path_;
  std::shared_ptr<MemFile> file_;
  std::atomic<bool> closed_{false};
};

class MemRandomAccessFile final : public RandomAccessFile {
 public:
  MemRandomAccessFile(MemEnvImpl* env, std::shared_ptr<MemFile> file) : env_(env), file_(std::move(file)) {}
  Status Read(uint64_t offset, size_t n, std::string* out) const override;

 private:
  MemEnvImpl* env_;
  std::shared_ptr<MemFile> file_;
};

class MemEnvImpl final : public MemEnv {
 public:
  MemEnvImpl() { dirs_.insert("/"); }

  Status CreateDir(const std::string& dir) override {
    if (dir.empty()) return InvalidArgument("CreateDir: empty path");
    std::lock_guard lock(mu_);
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
      if (pos != dir.size() && dir[pos] != '/') continue;
      std::string prefix = dir.substr(0, pos);
      if (files_.count(prefix)) return AlreadyExists(prefix + ": exists and is not a directory");
      dirs_.insert(prefix);
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    std::lock_guard lock(mu_);
    if (!dirs_.count(dir)) return NotFound(dir + ": no such directory");
    std::vector<std::string> names;
    for (const auto& [path, f] : files_) {
      if (Parent(path) == dir) names.push_back(path.substr(dir == "/" ? 1 : dir.size() + 1));
    }
    for (const auto& d : dirs_) {
      if (d != dir && Parent(d) == dir) names.push_back(d.substr(dir == "/" ? 1 : dir.size() + 1));
    }
    return names;
  }

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    return Open(path, /*truncate=*/false);
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return Open(path, /*truncate=*/true);
  }

  Result<std::unique_ptr<WritableFile>> Open(const std::string& path, bool truncate) {
    std::lock_guard lock(mu_);
    std::string parent = Parent(path);
    if (!parent.empty() && !dirs_.count(parent)) return NotFound(path + ": no such directory");
    if (dirs_.count(path)) return IOError(path + ": is a directory");
    auto& f = files_[path];
    if (!f.file) {
      f.file = std::make_shared<MemFile>();
      f.entry_durable = false;
    } else if (truncate) {
      f.file->data.clear();  // like O_TRUNC, a metadata change treated as durable
      f.file->synced = 0;
      f.file->lost_from = std::string::npos;
    }
    return std::unique_ptr<WritableFile>(new MemWritableFile(this, path, f.file));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path + ": no such file");
    return std::unique_ptr<RandomAccessFile>(new MemRandomAccessFile(this, it->second.file));
  }

  Result<std::string> ReadFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path + ": no such file");
    return it->second.file->data;
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(from);
    if (it == files_.end()) return NotFound(from + ": no such file");
    std::string parent = Parent(to);
    if (!parent.empty() && !dirs_.count(parent)) return NotFound(to + ": no such directory");
    Entry e = it->second;
    files_.erase(it);
    e.entry_durable = false;
    files_[to] = e;
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (files_.erase(path) == 0) return NotFound(path + ": no such file");
    return Status::Ok();
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path + ": no such file");
    MemFile& f = *it->second.file;
    f.data.resize(size, '\0');
    // A truncation is a metadata change; treat it as durable, like ext4 does in practice.
    f.synced = std::min<size_t>(f.synced, f.data.size());
    if (f.lost_from >= f.data.size()) f.lost_from = std::string::npos;  // the lost bytes are cut off
    return Status::Ok();
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path + ": no such file");
    return static_cast<uint64_t>(it->second.file->data.size());
  }

  bool FileExists(const std::string& path) override {
    std::lock_guard lock(mu_);
    return files_.count(path) > 0 || dirs_.count(path) > 0;
  }

  Status SyncDir(const std::string& dir) override {
    std::lock_guard lock(mu_);
    if (!dirs_.count(dir)) return NotFound(dir + ": no such directory");
    if (fail_dir_syncs_) return IOError(dir + ": fsync: Input/output error (MemEnv sync failure)");
    for (auto& [path, e] : files_) {
      if (Parent(path) == dir) e.entry_durable = true;
    }
    return Status::Ok();
  }

  void FailWritesAfter(uint64_t bytes) override {
    std::lock_guard lock(mu_);
    write_budget_ = bytes;
  }

  void FailSyncs(bool files, bool dirs) override {
    std::lock_guard lock(mu_);
    fail_file_syncs_ = files;
    fail_dir_syncs_ = dirs;
  }

  void ClearFaults() override {
    std::lock_guard lock(mu_);
    write_budget_.reset();
    fail_file_syncs_ = fail_dir_syncs_ = false;
  }

  void DropUnsyncedData() override {
    std::lock_guard lock(mu_);
    for (auto it = files_.begin(); it != files_.end();) {
      if (!it->second.entry_durable) {
        it = files_.erase(it);
        continue;
      }
      MemFile& f = *it->second.file;
      f.data.resize(f.Durable());
      f.synced = f.data.size();
      f.lost_from = std::string::npos;
      ++it;
    }
  }

  Status CorruptByte(const std::string& path, uint64_t offset, uint8_t mask) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path + ": no such file");
    MemFile& f = *it->second.file;
    if (offset >= f.data.size()) return InvalidArgument(path + ": offset past end of file");
    f.data[offset] = static_cast<char>(static_cast<uint8_t>(f.data[offset]) ^ mask);
    return Status::Ok();
  }

  uint64_t BytesWritten() const override {
    std::lock_guard lock(mu_);
    return bytes_written_;
  }

  // For the file objects.
  Status DoAppend(const std::string& path, MemFile& f, std::string_view data) {
    std::lock_guard lock(mu_);
    size_t n = data.size();
    bool full = false;
    if (write_budget_ && *write_budget_ < n) {
      n = static_cast<size_t>(*write_budget_);
      full = true;
    }
    f.data.append(data.data(), n);
    bytes_written_ += n;
    if (write_budget_) *write_budget_ -= n;
    if (full) return ResourceExhausted(path + ": No space left on device (MemEnv write limit)");
    return Status::Ok();
  }
  Status DoSync(const std::string& path, MemFile& f) {
    std::lock_guard lock(mu_);
    if (fail_file_syncs_) {
      if (f.synced < f.data.size()) f.lost_from = std::min(f.lost_from, f.synced);
      return IOError(path + ": fdatasync: Input/output error (MemEnv sync failure)");
    }
    f.synced = f.data.size();
    return Status::Ok();
  }
  void DoRead(const MemFile& f, uint64_t offset, size_t n, std::string* out) {
    std::lock_guard lock(mu_);
    if (offset >= f.data.size()) {
      out->clear();
      return;
    }
    out->assign(f.data, static_cast<size_t>(offset), n);
  }

 private:
  struct Entry {
    std::shared_ptr<MemFile> file;
    bool entry_durable = false;  // the directory entry survives DropUnsyncedData
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> files_;
  std::set<std::string> dirs_;  // directories are always durable
  std::optional<uint64_t> write_budget_;
  uint64_t bytes_written_ = 0;
  bool fail_file_syncs_ = false;
  bool fail_dir_syncs_ = false;
};

Status MemWritableFile::Append(std::string_view data) {
  if (closed_) return FailedPrecondition(path_ + ": append after close");
  return env_->DoAppend(path_, *file_, data);
}

Status MemWritableFile::Sync() {
  if (closed_) return FailedPrecondition(path_ + ": sync after close");
  return env_->DoSync(path_, *file_);
}

Status MemRandomAccessFile::Read(uint64_t offset, size_t n, std::string* out) const {
  env_->DoRead(*file_, offset, n, out);
  return Status::Ok();
}

}  // namespace

std::unique_ptr<MemEnv> NewMemEnv() { return std::make_unique<MemEnvImpl>(); }

}  // namespace doppel::platform
