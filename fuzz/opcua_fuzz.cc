// Fuzzes the OPC UA binary decoder with arbitrary bytes as every message Doppel's client
// decodes: the frame header, ACK and ERR bodies, secure-conversation chunk headers and every
// service response body (the first byte picks which, the rest is the input).
// Properties: no crash, no out-of-bounds read, no UB, no huge allocation; a DataValue or
// Variant that decodes re-encodes to exactly the bytes it consumed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "doppel/ingest/opcua/binary.h"
#include "doppel/ingest/opcua/messages.h"
#include "doppel/ingest/opcua/transport.h"

namespace ua = doppel::ingest::opcua;

namespace {

template <typename T>
void Response(std::string_view body) {
  T r;
  (void)ua::DecodeResponse(body, &r);
}

// Decoding then encoding a DataValue must give back the consumed bytes when the input was
// canonical; at least re-decoding the re-encoding must give the same value.
void DataValueRoundTrip(std::string_view in) {
  ua::Decoder d(in);
  ua::DataValue v;
  if (!d.DataValue("fuzz", &v).ok()) return;
  ua::Encoder e;
  e.DataValue(v);
  ua::Decoder d2(e.bytes());
  ua::DataValue back;
  if (!d2.DataValue("fuzz", &back).ok() || d2.remaining() != 0) std::abort();
  // NaN payloads compare unequal; compare the encodings instead.
  ua::Encoder e2;
  e2.DataValue(back);
  if (e2.bytes() != e.bytes()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 16) {
    case 0: {
      auto h = ua::ParseFrameHeader(in.substr(0, ua::kFrameHeaderSize), 1 << 20);
      if (h.ok() && in.size() >= ua::kFrameHeaderSize)
        (void)ua::ParseSecureChunk(*h, in.substr(ua::kFrameHeaderSize));
      break;
    }
    case 1: (void)ua::DecodeAcknowledge(in); break;
    case 2: (void)ua::DecodeErrorMessage(in); break;
    case 3: Response<ua::OpenSecureChannelResponse>(in); break;
    case 4: Response<ua::CreateSessionResponse>(in); break;
    case 5: Response<ua::ActivateSessionResponse>(in); break;
    case 6: Response<ua::BrowseResponse>(in); break;
    case 7: Response<ua::ReadResponse>(in); break;
    case 8: Response<ua::WriteResponse>(in); break;
    case 9: Response<ua::CreateSubscriptionResponse>(in); break;
    case 10: Response<ua::CreateMonitoredItemsResponse>(in); break;
    case 11: Response<ua::PublishResponse>(in); break;
    case 12: (void)ua::DecodeCloseSessionResponse(in); break;
    case 13: DataValueRoundTrip(in); break;
    case 14: {
      ua::Decoder d(in);
      (void)d.SkipDiagnosticInfo("fuzz");
      break;
    }
    case 15: {
      auto id = ua::NodeId::Parse(in);
      if (id.ok() && ua::NodeId::Parse(id->ToString()).value() != *id) std::abort();
      break;
    }
  }
  return 0;
}
