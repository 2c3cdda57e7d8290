// libFuzzer target over the NBD handshake and the transmission request parser.
//
// The input is what a client sends: it is fed to the handshake state machine in chunks whose
// sizes come from the input itself (so split reads are covered), and whatever follows the
// end of the handshake goes through the request loop the server runs: parse a header, plan
// it, skip a WRITE payload. Invariants checked: the handshake never consumes more than it
// was given and never leaves the closed/transmission state; every reply it produced is
// well-formed; a plan's error is a valid NBD errno.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "nbd/export.hpp"
#include "nbd/handshake.hpp"
#include "nbd/protocol.hpp"
#include "nbd/request.hpp"
#include "nbd/wire.hpp"

using namespace mqblk::nbd;

namespace {

const ExportInfo& the_export() {
  static const ExportInfo e = [] {
    mqblk::DiskLimits l;
    l.capacity_bytes = 64u << 20;
    l.discard_granularity = 4096;
    l.max_discard_sectors = 2048;
    l.max_write_zeroes_sectors = 2048;
    l.volatile_write_cache = true;
    l.fua = true;
    return ExportInfo::from_limits(l, "fuzz", "fuzzed export", false);
  }();
  return e;
}

void check_option_replies(const std::string& out) {
  // Greeting, then option replies, then maybe the EXPORT_NAME tail (size, flags, zeroes).
  if (out.size() < 18) std::abort();
  auto* p = reinterpret_cast<const uint8_t*>(out.data());
  if (load_be64(p) != kNbdMagic) std::abort();
  size_t i = 18;
  while (i + 20 <= out.size() && load_be64(p + i) == kOptReplyMagic) {
    uint32_t len = load_be32(p + i + 16);
    if (len > out.size() - i - 20) std::abort();
    i += 20 + len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ExportInfo& exp = the_export();
  Handshake hs(exp);
  std::string out = hs.output();
  hs.output().clear();
  size_t pos = 0;
  unsigned step = 0;
  while (pos < size && hs.state() == Handshake::State::options) {
    size_t chunk = 1 + (data[pos] % 64) * (step++ % 3 == 0 ? 1 : 97);
    chunk = std::min(chunk, size - pos);
    size_t used = hs.feed(data + pos, chunk);
    if (used > chunk) std::abort();
    if (used < chunk && hs.state() == Handshake::State::options) std::abort();
    pos += used;
    out += hs.output();
    hs.output().clear();
    if (used == 0) break;
  }
  check_option_replies(out);
  if (hs.state() != Handshake::State::transmission) return 0;

  const Negotiated neg = hs.negotiated();
  while (size - pos >= kRequestHeaderSize) {
    Request r;
    if (!parse_request(data + pos, r)) return 0;  // the server closes the connection here
    pos += kRequestHeaderSize;
    Plan p = plan_request(r, exp, neg);
    switch (p.action) {
      case Action::disconnect:
      case Action::close: return 0;
      case Action::reply_error:
        if (p.error == 0) std::abort();
        break;
      case Action::discard_then_error:
        if (r.type != kCmdWrite || p.error == 0 || r.length > kMaxDiscardPayload) std::abort();
        pos += std::min<size_t>(r.length, size - pos);
        break;
      case Action::execute:
        if (r.type == kCmdRead || r.type == kCmdWrite) {
          if (r.length == 0 || r.length > exp.max_block || r.offset + r.length > exp.size)
            std::abort();
          if ((r.offset | r.length) % exp.min_block) std::abort();
        }
        if (r.type == kCmdWrite) pos += std::min<size_t>(r.length, size - pos);
        break;
    }
  }
  return 0;
}
