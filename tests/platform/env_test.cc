// Env contract tests, run against both the POSIX Env (in a temp dir) and the in-memory Env,
// plus the MemEnv fault-injection controls.
#include "doppel/platform/env.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

namespace doppel::platform {
namespace {

class PosixEnvHolder {
 public:
  PosixEnvHolder() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "doppel-env-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
  }
  ~PosixEnvHolder() { std::filesystem::remove_all(root_); }
  Env* env() { return DefaultEnv(); }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

class MemEnvHolder {
 public:
  MemEnvHolder() { EXPECT_TRUE(mem_->CreateDir(root_).ok()); }
  Env* env() { return mem_.get(); }
  const std::string& root() const { return root_; }

 private:
  std::unique_ptr<MemEnv> mem_ = NewMemEnv();
  std::string root_ = "/tmp/env-test";
};

template <typename Holder>
class EnvContractTest : public ::testing::Test {
 protected:
  Env* env() { return h_.env(); }
  std::string root() { return h_.root(); }
  std::string path(const std::string& name) { return h_.root() + "/" + name; }
  void Write(const std::string& name, const std::string& data) {
    auto f = env()->NewAppendableFile(path(name));
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->Append(data).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  Holder h_;
};

using Envs = ::testing::Types<PosixEnvHolder, MemEnvHolder>;
TYPED_TEST_SUITE(EnvContractTest, Envs);

TYPED_TEST(EnvContractTest, CreateDirIsRecursiveAndIdempotent) {
  std::string d = this->path("a/b/c");
  ASSERT_TRUE(this->env()->CreateDir(d).ok());
  ASSERT_TRUE(this->env()->CreateDir(d).ok());
  EXPECT_TRUE(this->env()->FileExists(d));
  auto names = this->env()->ListDir(this->path("a"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"b"});
}

TYPED_TEST(EnvContractTest, AppendedBytesAreReadBackInOrder) {
  auto f = this->env()->NewAppendableFile(this->path("f"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("hello ").ok());
  ASSERT_TRUE((*f)->Append(std::string("\0wor", 4)).ok());
  ASSERT_TRUE((*f)->Flush().ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Close().ok());
  auto data = this->env()->ReadFile(this->path("f"));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, std::string("hello \0wor", 10));
  auto size = this->env()->FileSize(this->path("f"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10u);
}

TYPED_TEST(EnvContractTest, ReopeningForAppendKeepsExistingBytes) {
  this->Write("f", "abc");
  this->Write("f", "def");
  EXPECT_EQ(*this->env()->ReadFile(this->path("f")), "abcdef");
}

TYPED_TEST(EnvContractTest, RandomAccessReadIsShortAtEndOfFile) {
  this->Write("f", "0123456789");
  auto f = this->env()->NewRandomAccessFile(this->path("f"));
  ASSERT_TRUE(f.ok());
  std::string out;
  ASSERT_TRUE((*f)->Read(3, 4, &out).ok());
  EXPECT_EQ(out, "3456");
  ASSERT_TRUE((*f)->Read(8, 10, &out).ok());
  EXPECT_EQ(out, "89");
  ASSERT_TRUE((*f)->Read(100, 10, &out).ok());
  EXPECT_EQ(out, "");
}

TYPED_TEST(EnvContractTest, ListDirNamesEveryFile) {
  this->Write("x", "1");
  this->Write("y", "2");
  auto names = this->env()->ListDir(this->root());
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"x", "y"}));
}

TYPED_TEST(EnvContractTest, RenameReplacesTarget) {
  this->Write("a", "new");
  this->Write("b", "old");
  ASSERT_TRUE(this->env()->RenameFile(this->path("a"), this->path("b")).ok());
  EXPECT_FALSE(this->env()->FileExists(this->path("a")));
  EXPECT_EQ(*this->env()->ReadFile(this->path("b")), "new");
}

TYPED_TEST(EnvContractTest, MissingFilesAreNotFound) {
  EXPECT_EQ(this->env()->ReadFile(this->path("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->env()->FileSize(this->path("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->env()->RemoveFile(this->path("nope")).code(), StatusCode::kNotFound);
  EXPECT_EQ(this->env()->ListDir(this->path("nodir")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->env()->NewAppendableFile(this->path("nodir/f")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(this->env()->FileExists(this->path("nope")));
}

TYPED_TEST(EnvContractTest, RemoveDeletesFile) {
  this->Write("f", "x");
  ASSERT_TRUE(this->env()->RemoveFile(this->path("f")).ok());
  EXPECT_FALSE(this->env()->FileExists(this->path("f")));
}

TYPED_TEST(EnvContractTest, TruncateShortensFileAndAppendsContinueAtNewEnd) {
  auto f = this->env()->NewAppendableFile(this->path("f"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("abcdef").ok());
  ASSERT_TRUE(this->env()->TruncateFile(this->path("f"), 2).ok());
  ASSERT_TRUE((*f)->Append("XY").ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(*this->env()->ReadFile(this->path("f")), "abXY");
}

TYPED_TEST(EnvContractTest, SyncDirSucceedsOnExistingDir) {
  EXPECT_TRUE(this->env()->SyncDir(this->root()).ok());
}

// ---- MemEnv fault injection ----

TEST(MemEnvFaultTest, FailWritesAfterWritesWhatFitsThenReportsDiskFull) {
  auto env = NewMemEnv();
  ASSERT_TRUE(env->CreateDir("/d").ok());
  auto f = env->NewAppendableFile("/d/f");
  ASSERT_TRUE(f.ok());
  env->FailWritesAfter(5);
  ASSERT_TRUE((*f)->Append("abc").ok());
  Status st = (*f)->Append("defg");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(*env->ReadFile("/d/f"), "abcde");
  EXPECT_EQ((*f)->Append("x").code(), StatusCode::kResourceExhausted);
  env->ClearFaults();
  EXPECT_TRUE((*f)->Append("x").ok());
  EXPECT_EQ(*env->ReadFile("/d/f"), "abcdex");
  EXPECT_EQ(env->BytesWritten(), 6u);
}

// /d/f, durable in its directory, holding "synced" up to its last successful Sync.
std::unique_ptr<WritableFile> FileWithSyncedPrefix(MemEnv* env) {
  EXPECT_TRUE(env->CreateDir("/d").ok());
  auto f = env->NewAppendableFile("/d/f");
  EXPECT_TRUE(f.ok());
  EXPECT_TRUE(env->SyncDir("/d").ok());
  EXPECT_TRUE((*f)->Append("synced").ok());
  EXPECT_TRUE((*f)->Sync().ok());
  return std::move(*f);
}

TEST(MemEnvFaultTest, DropUnsyncedDataKeepsOnlyTheSyncedPrefix) {
  auto env = NewMemEnv();
  auto f = FileWithSyncedPrefix(env.get());
  ASSERT_TRUE(f->Append("+lost").ok());
  env->DropUnsyncedData();
  EXPECT_EQ(*env->ReadFile("/d/f"), "synced");
}

// Linux after fsync(2) returned EIO: the dirty pages were dropped, a later fsync succeeds, and
// the bytes the failed one covered are still gone at power loss.
TEST(MemEnvFaultTest, BytesAFailedSyncCoveredStayLostAfterALaterSync) {
  auto env = NewMemEnv();
  auto f = FileWithSyncedPrefix(env.get());
  ASSERT_TRUE(f->Append("+eio").ok());
  env->FailSyncs(/*files=*/true, /*dirs=*/false);
  EXPECT_EQ(f->Sync().code(), StatusCode::kIOError);
  env->ClearFaults();
  ASSERT_TRUE(f->Append("+later").ok());
  ASSERT_TRUE(f->Sync().ok());
  EXPECT_EQ(*env->ReadFile("/d/f"), "synced+eio+later");  // readable until the power goes
  env->DropUnsyncedData();
  EXPECT_EQ(*env->ReadFile("/d/f"), "synced");
  // A file rewritten from the start is durable again once synced.
  ASSERT_TRUE(f->Append("+again").ok());
  ASSERT_TRUE(f->Sync().ok());
  env->DropUnsyncedData();
  EXPECT_EQ(*env->ReadFile("/d/f"), "synced+again");
}

TEST(MemEnvFaultTest, DropUnsyncedDataRemovesFilesWhoseDirectoryEntryWasNotSynced) {
  auto env = NewMemEnv();
  ASSERT_TRUE(env->CreateDir("/d").ok());
  auto f = env->NewAppendableFile("/d/f");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("data").ok());
  ASSERT_TRUE((*f)->Sync().ok());  // data synced, but the directory entry is not
  env->DropUnsyncedData();
  EXPECT_FALSE(env->FileExists("/d/f"));
}

TEST(MemEnvFaultTest, CorruptByteFlipsTheChosenBits) {
  auto env = NewMemEnv();
  ASSERT_TRUE(env->CreateDir("/d").ok());
  auto f = env->NewAppendableFile("/d/f");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("abc").ok());
  ASSERT_TRUE(env->CorruptByte("/d/f", 1, 0x01).ok());
  EXPECT_EQ(*env->ReadFile("/d/f"), "acc");
  EXPECT_EQ(env->CorruptByte("/d/f", 3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(env->CorruptByte("/d/g", 0).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace doppel::platform
