// Env: the file-system operations the storage layer needs, behind an interface (LevelDB's Env).
//
// Only src/doppel/platform touches OS headers. The store is written against Env so the same
// code runs on the real file system (DefaultEnv(), POSIX) and on an in-memory file system with
// fault injection (NewMemEnv()) that tests use to simulate a full disk, power loss and bit rot.
//
// Paths are plain strings joined with '/'. Failures are returned, never thrown; messages start
// with the path. Codes: kNotFound (no such file or directory), kResourceExhausted (no space
// left on the device), kPermissionDenied, kIOError (anything else).
//
// Thread safety: an Env is safe to use from any number of threads. A WritableFile is used by
// one writer thread (Append/Flush/Close), but Sync() may be called concurrently from one other
// thread (a background syncer). A RandomAccessFile is safe for concurrent reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::platform {

// A file opened for appending. Data passes through three states:
//   Append  -> may be buffered inside the process (lost if the process dies);
//   Flush   -> handed to the OS (write(2) done: survives kill -9, not power loss);
//   Sync    -> on stable storage (fdatasync: survives power loss).
class WritableFile {
 public:
  virtual ~WritableFile() = default;  // closes the file if Close was not called; errors ignored
  virtual Status Append(std::string_view data) = 0;
  virtual Status Flush() = 0;
  virtual Status Sync() = 0;   // flushes first
  virtual Status Close() = 0;  // flushes; does not sync
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at `offset` into *out (replacing its contents). Fewer than n bytes
  // (possibly zero) means end of file was reached; that is not an error.
  virtual Status Read(uint64_t offset, size_t n, std::string* out) const = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // Creates `dir` and any missing parents (mkdir -p). OK when it already exists as a directory.
  // Each directory it creates is made durable (its parent directory is synced).
  virtual Status CreateDir(const std::string& dir) = 0;
  // Names (not paths) of the entries in `dir`, without "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Opens `path` for appending, creating it (mode 0644) when missing. Writes go to the end.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  // Opens `path` for writing from the start: created (mode 0644) when missing, truncated to zero
  // bytes when it exists (O_TRUNC), so no stale bytes survive in front of the new ones.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) = 0;
  // The whole file (what the OS has: flushed data, synced or not).
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Atomically replaces `to` if it exists.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Makes the directory's entries (files created, renamed or removed in it) durable.
  virtual Status SyncDir(const std::string& dir) = 0;
};

// The POSIX file system. A process-wide singleton; never delete it.
Env* DefaultEnv();

// An in-memory file system with fault injection, for tests. Every file's bytes live in memory;
// "synced" bytes are the prefix that would survive a power loss.
class MemEnv : public Env {
 public:
  // Disk full: after `bytes` more bytes have been appended (across all files), appends write
  // what still fits and then fail with kResourceExhausted, like write(2) returning ENOSPC after
  // a short write.
  virtual void FailWritesAfter(uint64_t bytes) = 0;
  // fsync failure: from now on WritableFile::Sync (with `files`) and SyncDir (with `dirs`) fail
  // with kIOError and make nothing durable, like fsync(2) returning EIO. As on Linux, the bytes
  // a failed file sync did not make durable never become durable (a later Sync succeeds, but
  // DropUnsyncedData cuts the file where the failed sync's unsynced data began).
  virtual void FailSyncs(bool files, bool dirs) = 0;
  // Removes the write limit and the sync failures.
  virtual void ClearFaults() = 0;
  // Power loss: every file is cut back to the length it had at its last successful Sync, and
  // files whose directory entry was not made durable (SyncDir of the parent after creation or
  // rename) disappear. Open WritableFiles stay usable and keep appending to the cut file.
  virtual void DropUnsyncedData() = 0;
  // Bit rot: XORs the byte at `offset` of `path` with `mask` (kNotFound / kInvalidArgument
  // when the file or offset does not exist). Counts as synced data.
  virtual Status CorruptByte(const std::string& path, uint64_t offset, uint8_t mask = 0xFF) = 0;
  // Total bytes appended since creation (successful part of failed appends included).
  virtual uint64_t BytesWritten() const = 0;
};

std::unique_ptr<MemEnv> NewMemEnv();

}  // namespace doppel::platform
