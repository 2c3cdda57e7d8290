// libFuzzer target over the NBD handshake and the transmission request parser.
//
// The input is what a client sends: it is fed to the handshake state machine in chunks whose
// sizes come from the input itself (so split reads are covered), and whatever follows the
// end of the handshake goes through the request loop the server runs: parse a header, plan
// it, skip a WRITE payload. Invariants checked: the handshake never consumes more than it
// was given and never leaves the closed/transmission state; every reply it produced is
// well-formed; a plan's error is a valid NBD errno.
//
// TLS: the last byte picks the export's policy (off, on, require). There is no TLS peer
// here, so when the handshake reaches starttls the fuzzer plays a TLS handshake that
// succeeded (tls_started()) and the bytes after it stand for what TLS decrypted. Checked:
// under require, nothing before TLS is answered but with NBD_REP_ERR_TLS_REQD, or the
// ACK of STARTTLS/ABORT, and transmission is never reached without TLS; STARTTLS is
// acknowledged at most once and never under off.
#include <array>
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

const ExportInfo& the_export(TlsMode tls) {
  static const ExportInfo base = [] {
    mqblk::DiskLimits l;
    l.capacity_bytes = 64u << 20;
    l.discard_granularity = 4096;
    l.max_discard_sectors = 2048;
    l.max_write_zeroes_sectors = 2048;
    l.volatile_write_cache = true;
    l.fua = true;
    return ExportInfo::from_limits(l, "fuzz", "fuzzed export", false);
  }();
  static const std::array<ExportInfo, 3> all = [] {
    std::array<ExportInfo, 3> a{base, base, base};
    a[1].tls = TlsMode::on;
    a[2].tls = TlsMode::require;
    return a;
  }();
  return all[static_cast<unsigned>(tls)];
}

// Option replies from `from` on (greeting first when from is 0), then maybe the
// EXPORT_NAME tail (size, flags, zeroes). Counts ACKs of STARTTLS; before_tls: under
// require, only TLS_REQD errors and the ACKs of STARTTLS/ABORT may appear.
void check_option_replies(const std::string& out, size_t from, bool before_tls_required,
                          unsigned& starttls_acks) {
  auto* p = reinterpret_cast<const uint8_t*>(out.data());
  size_t i = from;
  if (from == 0) {
    if (out.size() < 18) std::abort();
    if (load_be64(p) != kNbdMagic) std::abort();
    i = 18;
  }
  while (i + 20 <= out.size() && load_be64(p + i) == kOptReplyMagic) {
    const uint32_t opt = load_be32(p + i + 8);
    const uint32_t type = load_be32(p + i + 12);
    const uint32_t len = load_be32(p + i + 16);
    if (len > out.size() - i - 20) std::abort();
    if (opt == kOptStartTls && type == kRepAck) starttls_acks++;
    if (before_tls_required) {
      const bool ack_ok = type == kRepAck && (opt == kOptStartTls || opt == kOptAbort);
      const bool refused = type == kRepErrTlsReqd || (opt == kOptStartTls && (type & 0x80000000u));
      if (!ack_ok && !refused) std::abort();
    }
    i += 20 + len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const TlsMode tls = static_cast<TlsMode>(data[size - 1] % 3);  // and is fed too
  const ExportInfo& exp = the_export(tls);
  Handshake hs(exp);
  std::string out = hs.output();
  hs.output().clear();
  size_t pos = 0;
  unsigned step = 0;
  unsigned starttls_acks = 0;
  size_t checked = 0;  // replies before this offset of out were checked
  while (pos < size) {
    if (hs.state() == Handshake::State::starttls) {
      // Before TLS: under require, nothing but TLS_REQD and the STARTTLS/ABORT ACKs.
      check_option_replies(out, checked, tls == TlsMode::require, starttls_acks);
      if (starttls_acks != 1 || tls == TlsMode::off) std::abort();
      checked = out.size();
      hs.tls_started();  // the TLS handshake "succeeded"
      if (hs.state() != Handshake::State::options || !hs.tls_active()) std::abort();
      if (hs.negotiated().structured_replies) std::abort();  // forgotten across STARTTLS
      continue;
    }
    if (hs.state() != Handshake::State::options) break;
    size_t chunk = 1 + (data[pos] % 64) * (step++ % 3 == 0 ? 1 : 97);
    chunk = std::min(chunk, size - pos);
    size_t used = hs.feed(data + pos, chunk);
    if (used > chunk) std::abort();
    if (used < chunk && hs.state() == Handshake::State::options) std::abort();
    pos += used;
    out += hs.output();
    hs.output().clear();
    if (used == 0 && hs.state() != Handshake::State::starttls) break;
  }
  const bool before_tls = tls == TlsMode::require && !hs.tls_active();
  check_option_replies(out, checked, before_tls, starttls_acks);
  if (starttls_acks > 1 || (tls == TlsMode::off && starttls_acks)) std::abort();
  if (hs.state() != Handshake::State::transmission) return 0;
  if (tls == TlsMode::require && !hs.tls_active()) std::abort();  // no way in without TLS

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
