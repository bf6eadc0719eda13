// Byte and bit coding helpers shared by the chunk codec and the segment format: little-endian
// fixed-width integers, LEB128 varints, zigzag, a bounds-checked byte cursor and MSB-first bit
// streams. Internal to the store. Every reader here is safe on untrusted input: it never reads
// out of bounds and reports failure instead.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace doppel::store::coding {

inline void PutFixed32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
inline void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void PutLengthPrefixed(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}
inline uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

// A bounds-checked cursor over bytes.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  size_t remaining() const { return s_.size() - pos_; }
  size_t pos() const { return pos_; }
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && pos_ < s_.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(s_[pos_++]);
      if (shift == 63 && b > 1) return false;
      result |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Byte(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<uint8_t>(s_[pos_++]);
    return true;
  }
  bool Fixed32(uint32_t* v) {
    if (remaining() < 4) return false;
    *v = GetFixed32(s_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool Fixed64(uint64_t* v) {
    if (remaining() < 8) return false;
    *v = GetFixed64(s_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = s_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool LengthPrefixed(std::string_view* out) {
    uint64_t n;
    return Varint(&n) && n <= remaining() && Bytes(static_cast<size_t>(n), out);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// MSB-first bit writer. Bits gather in a 64-bit word; full words are stored big-endian (so
// memory holds the bit stream in order). Reusable: Clear() keeps the buffer's capacity.
//
// Hot loops write through a Run: room for a known number of bits is made up front, and the
// run's state is plain values (no allocation, no aliasing) that the compiler keeps in
// registers.
class BitWriter {
 public:
  struct Run {
    uint64_t acc;    // the low 64 - free bits are pending
    int free;        // 1..64
    uint64_t* next;  // where the next full word goes

    // Writes v as n bits (1 <= n <= 64), most significant first; v < 2^n.
    [[gnu::always_inline]] void Put(uint64_t v, int n) {
      if (n < free) {
        acc = (acc << n) | v;
        free -= n;
        return;
      }
      // The word fills: its last `free` bits are the top `free` of the n bits.
      const int rest = n - free;  // 0..63 bits left over for the next word
      *next++ = BigEndian(((acc << (free - 1)) << 1) | (v >> rest));
      acc = v;  // stale bits above `rest` shift out before the next word is stored
      free = 64 - rest;
    }
    // Writes the low n bits of v (0 <= n <= 64).
    void Write(uint64_t v, int n) {
      if (n > 0) Put(v & (~0ull >> (64 - n)), n);
    }
  };

  // Starts a run of at most max_bits bits; End(run) must follow before any other call.
  Run Begin(size_t max_bits) {
    const size_t need = used_ + (static_cast<size_t>(64 - free_) + max_bits) / 64 + 1;
    if (words_.size() < need) words_.resize(std::max(need, 2 * words_.size()));
    return {acc_, free_, words_.data() + used_};
  }
  void End(const Run& r) {
    acc_ = r.acc;
    free_ = r.free;
    used_ = static_cast<size_t>(r.next - words_.data());
  }

  // Writes the low `n` bits of v (0 <= n <= 64), most significant first.
  void Write(uint64_t v, int n) {
    Run r = Begin(64);
    r.Write(v, n);
    End(r);
  }
  void Bit(bool b) { Write(b ? 1 : 0, 1); }
  size_t bits() const { return used_ * 64 + static_cast<size_t>(64 - free_); }
  // The bytes written so far, the last one zero-padded.
  std::string Finish() const {
    std::string out;
    AppendBytes(&out);
    return out;
  }
  // Appends varint(byte length), then the bytes (the last one zero-padded), to *out.
  void FinishLengthPrefixed(std::string* out) const {
    PutVarint(out, (bits() + 7) / 8);
    AppendBytes(out);
  }
  void Clear() {
    used_ = 0;
    acc_ = 0;
    free_ = 64;
  }

 private:
  static uint64_t BigEndian(uint64_t w) {
    if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(w);
    return w;
  }
  void AppendBytes(std::string* out) const {
    out->append(reinterpret_cast<const char*>(words_.data()), used_ * 8);
    const uint64_t tail = (acc_ << (free_ - 1)) << 1;
    for (int i = 0; i < (64 - free_ + 7) / 8; ++i) out->push_back(static_cast<char>(tail >> (56 - 8 * i)));
  }
  std::vector<uint64_t> words_;  // big-endian words; the first used_ are written
  size_t used_ = 0;
  uint64_t acc_ = 0;  // the low 64 - free_ bits are not yet in words_
  int free_ = 64;     // 1..64 between calls
};

// MSB-first bit reader; reading past the end sets a sticky failure and yields zeros.
class BitReader {
 public:
  explicit BitReader(std::string_view s) : s_(s) {}
  // Reads n bits (n <= 64), most significant first.
  uint64_t Read(int n) {
    if (n == 0) return 0;
    if (pos_ + static_cast<size_t>(n) > s_.size() * 8) {
      failed_ = true;
      pos_ = s_.size() * 8;
      return 0;
    }
    uint64_t v = 0;
    while (n > 0) {
      const int avail = 8 - static_cast<int>(pos_ & 7);
      const int take = n < avail ? n : avail;
      const unsigned b = static_cast<uint8_t>(s_[pos_ >> 3]);
      v = (v << take) | ((b >> (avail - take)) & ((1u << take) - 1));
      pos_ += take;
      n -= take;
    }
    return v;
  }
  int Bit() {
    if (pos_ >= s_.size() * 8) {
      failed_ = true;
      return 0;
    }
    int b = (static_cast<uint8_t>(s_[pos_ >> 3]) >> (7 - (pos_ & 7))) & 1;
    ++pos_;
    return b;
  }
  bool failed() const { return failed_; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// File names "<prefix><seq, at least 10 digits><suffix>" (segments, rollup files): the one
// spelling shared by every writer and reader of such names.
inline std::string SequencedFileName(std::string_view prefix, uint64_t seq, std::string_view suffix) {
  std::string digits = std::to_string(seq);
  if (digits.size() < 10) digits.insert(0, 10 - digits.size(), '0');
  return std::string(prefix) + digits + std::string(suffix);
}

// Parses a name written by SequencedFileName; false for any other name.
inline bool ParseSequencedFileName(std::string_view name, std::string_view prefix, std::string_view suffix,
                                   uint64_t* seq) {
  if (name.size() < prefix.size() + 10 + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix)) {
    return false;
  }
  std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 19) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *seq = v;
  return true;
}

}  // namespace doppel::store::coding
