#include "doppel/store/wal_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>

namespace doppel::store::wal {
namespace {

Reading R(std::string twin, std::string signal, TimeNs ts, double v, Quality q = Quality::kGood) {
  return Reading{std::move(twin), std::move(signal), ts, v, q};
}

// A segment with three records; `ends` receives the file size after each record.
std::string BuildSegment(const std::vector<std::vector<Reading>>& batches, std::vector<size_t>* ends) {
  std::string file;
  EncodeSegmentHeader({kFormatVersion, 3, 42}, &file);
  BatchEncoder enc;
  std::string payload;
  for (const auto& b : batches) {
    enc.Encode(b, &payload);
    enc.Commit();
    AppendRecord(kRecordTypeBatch, payload, &file);
    if (ends) ends->push_back(file.size());
  }
  return file;
}

const std::vector<std::vector<Reading>> kBatches = {
    {R("pump-1", "flow", 100, 1.5), R("pump-1", "speed", 100, 1450, Quality::kUncertain)},
    {R("pump-1", "flow", 50, -2.0, Quality::kBad),
     R("tank-9", "level", std::numeric_limits<TimeNs>::min(), 0)},
    {R("tank-9", "level", std::numeric_limits<TimeNs>::max(), std::numeric_limits<double>::infinity()),
     R("pump-1", "flow", -7, 3.25)},
};

TEST(WalFormatTest, SegmentFileNamesRoundTrip) {
  EXPECT_EQ(SegmentFileName(2, 17), "wal-002-0000000017.log");
  int lane = -1;
  uint64_t seq = 0;
  ASSERT_TRUE(ParseSegmentFileName("wal-002-0000000017.log", &lane, &seq));
  EXPECT_EQ(lane, 2);
  EXPECT_EQ(seq, 17u);
  ASSERT_TRUE(ParseSegmentFileName(SegmentFileName(999, 123456789012ull), &lane, &seq));
  EXPECT_EQ(seq, 123456789012ull);
  for (const char* bad : {"wal-002-0000000017.log.tmp", "wal-02-0000000017.log", "wal-002-00000x0017.log",
                          "metadata.db", "wal-002-.log"}) {
    EXPECT_FALSE(ParseSegmentFileName(bad, &lane, &seq)) << bad;
  }
}

TEST(WalFormatTest, EncodedBatchesDecodeToTheSameReadings) {
  std::string file = BuildSegment(kBatches, nullptr);
  SegmentReader reader(file);
  SegmentHeader h;
  ASSERT_EQ(reader.ReadHeader(&h), SegmentReader::Outcome::kRecord);
  EXPECT_EQ(h.lane, 3);
  EXPECT_EQ(h.seq, 42u);
  std::vector<WalSample> got;
  for (const auto& batch : kBatches) {
    ASSERT_EQ(reader.Next(&got), SegmentReader::Outcome::kRecord) << reader.error();
    ASSERT_EQ(got.size(), batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const SeriesName& name = reader.dict()[got[i].series];
      EXPECT_EQ(name.twin, batch[i].twin);
      EXPECT_EQ(name.signal, batch[i].signal);
      EXPECT_EQ(got[i].ts_ns, batch[i].source_ts_ns);
      EXPECT_EQ(got[i].value, batch[i].value);
      EXPECT_EQ(got[i].quality, batch[i].quality);
    }
  }
  EXPECT_EQ(reader.Next(&got), SegmentReader::Outcome::kEnd);
  EXPECT_EQ(reader.valid_bytes(), file.size());
  EXPECT_EQ(reader.dict().size(), 3u);  // pump-1/flow, pump-1/speed, tank-9/level: interned once
}

TEST(WalFormatTest, NanValuesSurviveBitExactly) {
  std::string file = BuildSegment({{R("a", "b", 1, std::nan("0x5"))}}, nullptr);
  SegmentReader reader(file);
  std::vector<WalSample> got;
  ASSERT_EQ(reader.Next(&got), SegmentReader::Outcome::kRecord);
  EXPECT_TRUE(std::isnan(got[0].value));
}

TEST(WalFormatTest, AbortedEncodeDoesNotDefineSeries) {
  BatchEncoder enc;
  std::string payload;
  enc.Encode({R("a", "x", 1, 1)}, &payload);
  enc.Abort();
  EXPECT_EQ(enc.series_defined(), 0u);
  enc.Encode({R("b", "y", 1, 1), R("a", "x", 2, 2)}, &payload);
  enc.Commit();
  EXPECT_EQ(enc.series_defined(), 2u);
  std::vector<SeriesName> dict;
  std::vector<WalSample> samples;
  ASSERT_TRUE(DecodeBatch(payload, &dict, &samples).ok());
  EXPECT_EQ(dict[0].twin, "b");
  EXPECT_EQ(dict[1].twin, "a");
}

// The payload bytes written by hand from docs/formats/wal.md for two messages of one twin (the
// second reuses the first's series ids): the encoder's fast paths must not change the layout.
TEST(WalFormatTest, RepeatedMessagesEncodeToTheSpecifiedBytes) {
  BatchEncoder enc;
  std::string payload;
  enc.Encode({R("p", "fl", 100, 1.5), R("p", "sp", 100, 2.0, Quality::kUncertain), R("p", "fl", 200, 1.5),
              R("p", "sp", 200, -2.0, Quality::kBad)},
             &payload);
  enc.Commit();
  EXPECT_EQ(enc.batch_ids(), (std::vector<uint32_t>{0, 1, 0, 1}));
  EXPECT_EQ(enc.series_defined(), 2u);
  const std::string one_point_five("\x00\x00\x00\x00\x00\x00\xF8\x3F", 8);  // 0x3FF8000000000000, LE
  const std::string two("\x00\x00\x00\x00\x00\x00\x00\x40", 8);             // 0x4000000000000000
  const std::string minus_two("\x00\x00\x00\x00\x00\x00\x00\xC0", 8);       // 0xC000000000000000
  const std::string want = std::string("\x02", 1) +
                           "\x01p\x02"
                           "fl" +
                           "\x01p\x02"
                           "sp" +
                           "\x04" +
                           // id 0, ts delta +100 (zigzag 200 = varint C8 01), value, quality good
                           std::string("\x00\xC8\x01", 3) + one_point_five + std::string("\x00", 1) +
                           // id 1, delta 0, value, uncertain
                           std::string("\x01\x00", 2) + two + "\x01" +
                           // id 0 again (no new definition), delta +100
                           std::string("\x00\xC8\x01", 3) + one_point_five + std::string("\x00", 1) +
                           std::string("\x01\x00", 2) + minus_two + "\x02";
  EXPECT_EQ(payload, want);
  // A later record of the same twin defines nothing new.
  enc.Encode({R("p", "fl", 300, 1.5)}, &payload);
  EXPECT_EQ(payload, std::string("\x00\x01\x00\xD8\x04", 5) + one_point_five + std::string("\x00", 1));
}

TEST(WalFormatTest, VaryingSignalOrderAndAbortedRecordsKeepEverySeriesIdConsistent) {
  // Signals arrive in changing orders, twins interleave, and some records are aborted (not
  // written): decoding only the written records must give back exactly their readings, each
  // series defined once.
  std::mt19937_64 rng(5);
  BatchEncoder enc;
  std::string file, payload;
  EncodeSegmentHeader({kFormatVersion, 0, 1}, &file);
  std::vector<std::vector<Reading>> written;
  std::set<std::pair<std::string, std::string>> keys;
  for (int b = 0; b < 60; ++b) {
    std::vector<Reading> batch;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      batch.push_back(R("twin-" + std::to_string(rng() % 4),
                        "a_rather_long_signal_name_" + std::to_string(rng() % 12), b * 100 + i,
                        static_cast<double>(rng() % 1000)));
    }
    enc.Encode(batch, &payload);
    if (rng() % 4 == 0) {
      enc.Abort();
      continue;
    }
    enc.Commit();
    AppendRecord(kRecordTypeBatch, payload, &file);
    for (const Reading& r : batch) keys.insert({r.twin, r.signal});
    written.push_back(std::move(batch));
  }
  SegmentReader reader(file);
  std::vector<WalSample> got;
  for (const auto& batch : written) {
    ASSERT_EQ(reader.Next(&got), SegmentReader::Outcome::kRecord) << reader.error();
    ASSERT_EQ(got.size(), batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const SeriesName& name = reader.dict()[got[i].series];
      EXPECT_EQ(name.twin, batch[i].twin);
      EXPECT_EQ(name.signal, batch[i].signal);
      EXPECT_EQ(got[i].ts_ns, batch[i].source_ts_ns);
      EXPECT_EQ(got[i].value, batch[i].value);
    }
  }
  EXPECT_EQ(reader.Next(&got), SegmentReader::Outcome::kEnd);
  EXPECT_EQ(reader.dict().size(), keys.size());
  EXPECT_EQ(enc.series_defined(), keys.size());
}

TEST(WalFormatTest, TruncationAtEveryOffsetKeepsExactlyTheCompleteRecords) {
  std::vector<size_t> ends;
  std::string file = BuildSegment(kBatches, &ends);
  for (size_t cut = 0; cut < file.size(); ++cut) {
    SegmentReader reader(std::string_view(file).substr(0, cut));
    std::vector<WalSample> got;
    size_t records = 0;
    SegmentReader::Outcome o;
    while ((o = reader.Next(&got)) == SegmentReader::Outcome::kRecord) ++records;
    size_t complete = std::count_if(ends.begin(), ends.end(), [&](size_t e) { return e <= cut; });
    EXPECT_EQ(records, complete) << "cut at " << cut;
    bool at_boundary = cut == kSegmentHeaderSize || std::find(ends.begin(), ends.end(), cut) != ends.end();
    EXPECT_EQ(o, at_boundary ? SegmentReader::Outcome::kEnd : SegmentReader::Outcome::kTorn)
        << "cut at " << cut;
  }
}

TEST(WalFormatTest, AnyFlippedByteStopsReplayAtOrBeforeTheDamagedRecord) {
  std::vector<size_t> ends;
  std::string file = BuildSegment(kBatches, &ends);
  for (size_t pos = 0; pos < file.size(); ++pos) {
    std::string bad = file;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x40);
    SegmentReader reader(bad);
    std::vector<WalSample> got;
    size_t records = 0;
    SegmentReader::Outcome o;
    while ((o = reader.Next(&got)) == SegmentReader::Outcome::kRecord) ++records;
    size_t before = std::count_if(ends.begin(), ends.end(), [&](size_t e) { return e <= pos; });
    if (pos < kSegmentHeaderSize) {
      // Magic and version are checked; lane and seq are informational.
      if (pos < 6) {
        EXPECT_EQ(o, SegmentReader::Outcome::kCorrupt) << pos;
      }
      continue;
    }
    EXPECT_EQ(records, before) << "flip at " << pos;
    EXPECT_NE(o, SegmentReader::Outcome::kEnd) << "flip at " << pos;
    // Damage in the last record (reaching end of file) is a torn tail, elsewhere corruption.
    if (pos < ends[1]) {
      EXPECT_EQ(o, SegmentReader::Outcome::kCorrupt) << "flip at " << pos << ": " << reader.error();
    }
  }
}

TEST(WalFormatTest, ZeroFilledTailIsTorn) {
  std::string file = BuildSegment({kBatches[0]}, nullptr);
  size_t good = file.size();
  file.append(4096, '\0');
  SegmentReader reader(file);
  std::vector<WalSample> got;
  ASSERT_EQ(reader.Next(&got), SegmentReader::Outcome::kRecord);
  EXPECT_EQ(reader.Next(&got), SegmentReader::Outcome::kTorn);
  EXPECT_EQ(reader.valid_bytes(), good);
}

TEST(WalFormatTest, DecodeRejectsReferencesToUndefinedSeries) {
  BatchEncoder enc;
  std::string payload;
  enc.Encode({R("a", "x", 1, 1)}, &payload);
  enc.Commit();
  enc.Encode({R("a", "x", 2, 2)}, &payload);  // refers to id 0 without defining it
  std::vector<SeriesName> dict;
  std::vector<WalSample> samples;
  Status st = DecodeBatch(payload, &dict, &samples);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_TRUE(dict.empty());
}

// Bytes written by an independent encoder following docs/formats/wal.md (a Python script):
// a v1 header for lane 0 segment 1, then two records. Pins the on-disk format.
TEST(WalFormatTest, GoldenSegmentFromTheSpecDecodes) {
  const std::string golden(
      "\x44\x57\x41\x4c\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xd1\x8f\xca\x25\x32\x00\x00\x00"
      "\x01\x02\x06\x70\x75\x6d\x70\x2d\x31\x04\x66\x6c\x6f\x77\x06\x70\x75\x6d\x70\x2d\x31\x05\x73\x70"
      "\x65\x65\x64\x02\x00\xd0\x0f\x00\x00\x00\x00\x00\x00\xf8\x3f\x00\x01\x00\x00\x00\x00\x00\x00\xa8"
      "\x96\x40\x01\xe7\xac\xac\xae\x0d\x00\x00\x00\x01\x00\x01\x01\x09\x00\x00\x00\x00\x00\x00\x00\x40"
      "\x02",
      97);
  SegmentReader reader(golden);
  std::vector<WalSample> got;
  ASSERT_EQ(reader.Next(&got), SegmentReader::Outcome::kRecord) << reader.error();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(reader.dict()[got[1].series].signal, "speed");
  EXPECT_EQ(got[0].ts_ns, 1000);
  EXPECT_EQ(got[0].value, 1.5);
  EXPECT_EQ(got[1].ts_ns, 1000);  // delta 0
  EXPECT_EQ(got[1].quality, Quality::kUncertain);
  ASSERT_EQ(reader.Next(&got), SegmentReader::Outcome::kRecord) << reader.error();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].ts_ns, -5);
  EXPECT_EQ(got[0].quality, Quality::kBad);
  EXPECT_EQ(reader.dict()[got[0].series].signal, "speed");
  EXPECT_EQ(reader.Next(&got), SegmentReader::Outcome::kEnd);

  // And our encoder produces exactly these bytes for the same input.
  std::string file;
  EncodeSegmentHeader({kFormatVersion, 0, 1}, &file);
  BatchEncoder enc;
  std::string payload;
  enc.Encode({R("pump-1", "flow", 1000, 1.5), R("pump-1", "speed", 1000, 1450, Quality::kUncertain)},
             &payload);
  enc.Commit();
  AppendRecord(kRecordTypeBatch, payload, &file);
  enc.Encode({R("pump-1", "speed", -5, 2.0, Quality::kBad)}, &payload);
  enc.Commit();
  AppendRecord(kRecordTypeBatch, payload, &file);
  EXPECT_EQ(file, golden);
}

}  // namespace
}  // namespace doppel::store::wal
