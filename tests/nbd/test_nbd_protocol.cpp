// Unit tests of the pure NBD protocol code: handshake state machine, request planning,
// reply encoding, payload pool and --listen parsing. No sockets, no device.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "nbd/export.hpp"
#include "nbd/handshake.hpp"
#include "nbd/listener.hpp"
#include "nbd/payload_pool.hpp"
#include "nbd/protocol.hpp"
#include "nbd/reply.hpp"
#include "nbd/request.hpp"
#include "nbd/wire.hpp"

namespace mqblk::nbd {
namespace {

ExportInfo test_export() {
  DiskLimits l;
  l.capacity_bytes = 1u << 20;
  l.logical_block_size = 512;
  l.discard_granularity = 4096;
  l.max_discard_sectors = 1024;
  l.max_write_zeroes_sectors = 1024;
  l.volatile_write_cache = true;
  l.fua = true;
  return ExportInfo::from_limits(l, "disk", "a test disk", false);
}

std::string opt(uint32_t option, const std::string& data) {
  std::string s;
  put_be64(s, kIHaveOpt);
  put_be32(s, option);
  put_be32(s, static_cast<uint32_t>(data.size()));
  return s + data;
}

std::string client_flags(uint32_t f = kClientFixedNewstyle | kClientNoZeroes) {
  std::string s;
  put_be32(s, f);
  return s;
}

std::string go_data(const std::string& name, std::vector<uint16_t> infos = {}) {
  std::string d;
  put_be32(d, static_cast<uint32_t>(name.size()));
  d += name;
  put_be16(d, static_cast<uint16_t>(infos.size()));
  for (uint16_t i : infos) put_be16(d, i);
  return d;
}

std::string meta_data(const std::string& name, std::vector<std::string> queries) {
  std::string d;
  put_be32(d, static_cast<uint32_t>(name.size()));
  d += name;
  put_be32(d, static_cast<uint32_t>(queries.size()));
  for (auto& q : queries) {
    put_be32(d, static_cast<uint32_t>(q.size()));
    d += q;
  }
  return d;
}

struct OptReply {
  uint32_t option, type;
  std::string data;
};

// Splits the server's output after the 18-byte greeting into option replies.
std::vector<OptReply> replies(const std::string& out, size_t start = 18) {
  std::vector<OptReply> r;
  auto* p = reinterpret_cast<const uint8_t*>(out.data());
  size_t i = start;
  while (i + 20 <= out.size()) {
    EXPECT_EQ(load_be64(p + i), kOptReplyMagic);
    uint32_t len = load_be32(p + i + 16);
    r.push_back({load_be32(p + i + 8), load_be32(p + i + 12), out.substr(i + 20, len)});
    i += 20 + len;
  }
  return r;
}

size_t feed(Handshake& h, const std::string& s) {
  return h.feed(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(NbdHandshake, GreetingIsFixedNewstyle) {
  ExportInfo e = test_export();
  Handshake h(e);
  auto* p = reinterpret_cast<const uint8_t*>(h.output().data());
  ASSERT_EQ(h.output().size(), 18u);
  EXPECT_EQ(load_be64(p), kNbdMagic);
  EXPECT_EQ(load_be64(p + 8), kIHaveOpt);
  EXPECT_EQ(load_be16(p + 16), kFlagFixedNewstyle | kFlagNoZeroes);
}

TEST(NbdHandshake, GoWithStructuredRepliesAndMetaContext) {
  ExportInfo e = test_export();
  Handshake h(e);
  std::string in = client_flags() + opt(kOptStructuredReply, "") +
                   opt(kOptSetMetaContext, meta_data("disk", {"base:allocation"})) +
                   opt(kOptGo, go_data("disk", {kInfoName, kInfoDescription}));
  std::string trailing = "REQ";  // a pipelined request must be left to the caller
  EXPECT_EQ(feed(h, in + trailing), in.size());
  ASSERT_EQ(h.state(), Handshake::State::transmission);
  EXPECT_TRUE(h.negotiated().structured_replies);
  EXPECT_TRUE(h.negotiated().base_allocation);
  EXPECT_TRUE(h.negotiated().transmission_flags & kTxSendDf);
  auto r = replies(h.output());
  ASSERT_EQ(r.size(), 8u);  // ACK, META_CONTEXT, ACK, INFO x4, ACK
  EXPECT_EQ(r[0].type, kRepAck);
  EXPECT_EQ(r[1].type, kRepMetaContext);
  EXPECT_EQ(r[1].data.substr(4), "base:allocation");
  EXPECT_EQ(r[3].type, kRepInfo);
  auto* d = reinterpret_cast<const uint8_t*>(r[3].data.data());
  EXPECT_EQ(load_be16(d), kInfoExport);
  EXPECT_EQ(load_be64(d + 2), 1u << 20);
  EXPECT_EQ(r[4].data.substr(2), "disk");
  EXPECT_EQ(r[5].data.substr(2), "a test disk");
  auto* b = reinterpret_cast<const uint8_t*>(r[6].data.data());
  EXPECT_EQ(load_be16(b), kInfoBlockSize);
  EXPECT_EQ(load_be32(b + 2), 512u);
  EXPECT_EQ(load_be32(b + 10), kMaxPayload);
  EXPECT_EQ(r[7].type, kRepAck);
}

TEST(NbdHandshake, UnknownOptionsAndTlsGetErrorsAndHandshakeGoesOn) {
  ExportInfo e = test_export();
  Handshake h(e);
  feed(h, client_flags() + opt(kOptStartTls, "") + opt(77, "junk") + opt(kOptList, "") +
              opt(kOptGo, go_data("nope")) + opt(kOptInfo, "\x01") +
              opt(kOptSetMetaContext, meta_data("", {"base:allocation"})));
  EXPECT_EQ(h.state(), Handshake::State::options);
  auto r = replies(h.output());
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[0].type, kRepErrPolicy);  // --tls=off
  EXPECT_EQ(r[1].type, kRepErrUnsup);
  EXPECT_EQ(r[2].type, kRepServer);
  EXPECT_EQ(r[3].type, kRepAck);
  EXPECT_EQ(r[4].type, kRepErrUnknown);
  EXPECT_EQ(r[5].type, kRepErrInvalid);
  EXPECT_EQ(r[6].type, kRepErrInvalid);  // meta context before structured replies
}

// --tls=require: before STARTTLS every option but STARTTLS and ABORT gets TLS_REQD (the
// export is neither listed nor described); STARTTLS pauses the handshake until TLS is up,
// after which what was negotiated is forgotten and STARTTLS again is invalid.
TEST(NbdHandshake, TlsRequiredRefusesOptionsUntilStartTls) {
  ExportInfo e = test_export();
  e.tls = TlsMode::require;
  Handshake h(e);
  const std::string after = opt(kOptList, "");
  feed(h, client_flags() + opt(kOptList, "") + opt(kOptGo, go_data("")) +
              opt(kOptStructuredReply, "") + opt(kOptStartTls, "x") + opt(kOptStartTls, "") +
              after);
  EXPECT_EQ(h.state(), Handshake::State::starttls);
  auto r = replies(h.output());
  ASSERT_EQ(r.size(), 5u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(r[i].type, kRepErrTlsReqd);
  EXPECT_EQ(r[3].type, kRepErrInvalid);  // STARTTLS with data
  EXPECT_EQ(r[4].type, kRepAck);
  EXPECT_EQ(h.output().find(e.name), std::string::npos);
  EXPECT_FALSE(h.negotiated().structured_replies);
  h.output().clear();
  // Bytes after STARTTLS are not consumed before tls_started().
  EXPECT_EQ(h.feed(reinterpret_cast<const uint8_t*>(after.data()), after.size()), 0u);
  h.tls_started();
  EXPECT_TRUE(h.tls_active());
  feed(h, opt(kOptStartTls, "") + after);
  r = replies(h.output(), 0);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].type, kRepErrInvalid);  // STARTTLS twice
  EXPECT_EQ(r[1].type, kRepServer);
  EXPECT_EQ(r[2].type, kRepAck);
}

TEST(NbdHandshake, TlsRequiredExportNameBeforeTlsCloses) {
  ExportInfo e = test_export();
  e.tls = TlsMode::require;
  Handshake h(e);
  feed(h, client_flags() + opt(kOptExportName, ""));
  EXPECT_EQ(h.state(), Handshake::State::closed);
}

TEST(NbdHandshake, TlsOnForgetsStructuredRepliesAcrossStartTls) {
  ExportInfo e = test_export();
  e.tls = TlsMode::on;
  Handshake h(e);
  feed(h, client_flags() + opt(kOptStructuredReply, "") + opt(kOptStartTls, ""));
  ASSERT_EQ(h.state(), Handshake::State::starttls);
  EXPECT_TRUE(h.negotiated().structured_replies);
  h.tls_started();
  EXPECT_FALSE(h.negotiated().structured_replies);
  EXPECT_EQ(h.state(), Handshake::State::options);
}

TEST(NbdHandshake, OversizedOptionIsSkippedNotStored) {
  ExportInfo e = test_export();
  Handshake h(e);
  std::string big(kMaxOptionLength + 1, 'x');
  feed(h, client_flags() + opt(kOptList, big) + opt(kOptExportName, "disk"));
  ASSERT_EQ(h.state(), Handshake::State::transmission);
  auto r = replies(h.output());
  ASSERT_GE(r.size(), 1u);
  EXPECT_EQ(r[0].type, kRepErrTooBig);
}

TEST(NbdHandshake, ExportNameOldReplyAndZeroes) {
  ExportInfo e = test_export();
  Handshake h(e);
  feed(h, client_flags(kClientFixedNewstyle) + opt(kOptExportName, ""));
  ASSERT_EQ(h.state(), Handshake::State::transmission);
  EXPECT_EQ(h.output().size(), 18u + 8 + 2 + 124);
}

TEST(NbdHandshake, BadInputCloses) {
  ExportInfo e = test_export();
  {
    Handshake h(e);
    feed(h, client_flags(0));
    EXPECT_EQ(h.state(), Handshake::State::closed);
  }
  {
    Handshake h(e);
    feed(h, client_flags(1u << 7));
    EXPECT_EQ(h.state(), Handshake::State::closed);
  }
  {
    Handshake h(e);
    feed(h, client_flags() + std::string(16, 'z'));
    EXPECT_EQ(h.state(), Handshake::State::closed);
  }
  {
    Handshake h(e);
    feed(h, client_flags() + opt(kOptExportName, "nope"));
    EXPECT_EQ(h.state(), Handshake::State::closed);
  }
  {
    Handshake h(e);
    feed(h, client_flags() + opt(kOptAbort, ""));
    EXPECT_EQ(h.state(), Handshake::State::closed);
    EXPECT_EQ(replies(h.output()).at(0).type, kRepAck);
  }
}

TEST(NbdHandshake, ByteAtATimeIsTheSameAsAllAtOnce) {
  ExportInfo e = test_export();
  std::string in = client_flags() + opt(kOptStructuredReply, "") + opt(kOptGo, go_data(""));
  Handshake a(e), b(e);
  feed(a, in);
  for (char c : in) b.feed(reinterpret_cast<const uint8_t*>(&c), 1);
  EXPECT_EQ(a.output(), b.output());
  EXPECT_EQ(b.state(), Handshake::State::transmission);
}

Negotiated neg(bool structured = true, bool meta = true) {
  Negotiated n;
  n.structured_replies = structured;
  n.base_allocation = meta;
  return n;
}

Request req(uint16_t type, uint64_t off, uint32_t len, uint16_t flags = 0) {
  Request r;
  r.type = type;
  r.offset = off;
  r.length = len;
  r.flags = flags;
  return r;
}

TEST(NbdRequest, ParseChecksMagic) {
  uint8_t b[28] = {};
  Request r;
  EXPECT_FALSE(parse_request(b, r));
  uint8_t* p = store_be32(b, kRequestMagic);
  p = store_be16(p, kCmdFlagFua);
  p = store_be16(p, kCmdWrite);
  p = store_be64(p, 0x1122334455667788ull);
  p = store_be64(p, 4096);
  store_be32(p, 512);
  ASSERT_TRUE(parse_request(b, r));
  EXPECT_EQ(r.type, kCmdWrite);
  EXPECT_EQ(r.flags, kCmdFlagFua);
  EXPECT_EQ(r.cookie, 0x1122334455667788ull);
  EXPECT_EQ(r.offset, 4096u);
  EXPECT_EQ(r.length, 512u);
}

TEST(NbdRequest, Plans) {
  ExportInfo e = test_export();
  auto plan = [&](Request r, Negotiated n = neg()) { return plan_request(r, e, n); };
  EXPECT_EQ(plan(req(kCmdRead, 0, 4096)).action, Action::execute);
  EXPECT_EQ(plan(req(kCmdRead, 1, 4096)).error, kEinval);                 // misaligned
  EXPECT_EQ(plan(req(kCmdRead, 0, 0)).error, kEinval);                    // empty
  EXPECT_EQ(plan(req(kCmdRead, (1u << 20) - 512, 1024)).error, kEinval);  // past the end
  EXPECT_EQ(plan(req(kCmdRead, ~0ull - 511, 512)).error, kEinval);        // overflowing
  EXPECT_EQ(plan(req(kCmdRead, 0, 4096, kCmdFlagDf)).action, Action::execute);
  EXPECT_EQ(plan(req(kCmdRead, 0, 4096, kCmdFlagDf), neg(false)).error, kEinval);
  EXPECT_EQ(plan(req(kCmdRead, 0, 4096, 1u << 9)).error, kEinval);  // unknown flag
  EXPECT_EQ(plan(req(kCmdWrite, (1u << 20) - 512, 1024)).action, Action::discard_then_error);
  EXPECT_EQ(plan(req(kCmdWrite, (1u << 20) - 512, 1024)).error, kEnospc);
  EXPECT_EQ(plan(req(kCmdWrite, 0, kMaxPayload + 512)).error, kEinval);
  EXPECT_EQ(plan(req(kCmdWrite, 0, kMaxDiscardPayload + 512)).action, Action::close);
  EXPECT_EQ(plan(req(kCmdWrite, 0, 512, kCmdFlagFua)).action, Action::execute);
  EXPECT_EQ(plan(req(kCmdWriteZeroes, 0, 8192, kCmdFlagNoHole | kCmdFlagFastZero)).action,
            Action::execute);
  EXPECT_EQ(plan(req(kCmdWriteZeroes, 0, 8192, kCmdFlagDf)).error, kEinval);
  EXPECT_EQ(plan(req(kCmdTrim, (1u << 20), 512)).error, kEnospc);
  EXPECT_EQ(plan(req(kCmdFlush, 0, 0)).action, Action::execute);
  EXPECT_EQ(plan(req(kCmdDisc, 0, 0)).action, Action::disconnect);
  EXPECT_EQ(plan(req(kCmdBlockStatus, 0, 4096)).action, Action::execute);
  EXPECT_EQ(plan(req(kCmdBlockStatus, 0, 4096), neg(true, false)).error, kEinval);
  EXPECT_EQ(plan(req(kCmdCache, 0, 4096)).action, Action::execute);
  EXPECT_EQ(plan(req(99, 0, 0)).error, kEinval);
  ExportInfo ro = e;
  ro.read_only = true;
  EXPECT_EQ(plan_request(req(kCmdWrite, 0, 512), ro, neg()).error, kEperm);
  EXPECT_EQ(plan_request(req(kCmdWrite, 0, 512), ro, neg()).action, Action::discard_then_error);
  EXPECT_EQ(plan_request(req(kCmdTrim, 0, 512), ro, neg()).error, kEperm);
}

TEST(NbdExport, FlagsTellTheTruth) {
  DiskLimits l;
  l.capacity_bytes = 1u << 30;
  ExportInfo plain = ExportInfo::from_limits(l, "", "", false);
  uint16_t f = plain.transmission_flags(false);
  EXPECT_TRUE(f & kTxHasFlags);
  EXPECT_TRUE(f & kTxCanMultiConn);
  EXPECT_FALSE(f & (kTxSendFlush | kTxSendFua | kTxSendTrim | kTxSendWriteZeroes | kTxSendDf |
                    kTxReadOnly | kTxRotational | kTxSendFastZero));
  ExportInfo full = test_export();
  f = full.transmission_flags(true);
  EXPECT_TRUE(f & kTxSendFlush);
  EXPECT_TRUE(f & kTxSendFua);
  EXPECT_TRUE(f & kTxSendTrim);
  EXPECT_TRUE(f & kTxSendWriteZeroes);
  EXPECT_TRUE(f & kTxSendFastZero);
  EXPECT_TRUE(f & kTxSendDf);
  EXPECT_EQ(full.max_trim_part, 1024u * 512);
  l.read_only = true;
  l.rotational = true;
  f = ExportInfo::from_limits(l, "", "", false).transmission_flags(false);
  EXPECT_TRUE(f & kTxReadOnly);
  EXPECT_TRUE(f & kTxRotational);
}

TEST(NbdReply, Encoders) {
  uint8_t b[64];
  EXPECT_EQ(encode_simple_reply(b, kEinval, 7), 16u);
  EXPECT_EQ(load_be32(b), kSimpleReplyMagic);
  EXPECT_EQ(load_be32(b + 4), kEinval);
  EXPECT_EQ(load_be64(b + 8), 7u);
  EXPECT_EQ(encode_hole_chunk(b, true, 9, 4096, 512), 32u);
  EXPECT_EQ(load_be16(b + 4), kReplyFlagDone);
  EXPECT_EQ(load_be16(b + 6), kReplyTypeOffsetHole);
  EXPECT_EQ(load_be32(b + 16), 12u);
  EXPECT_EQ(load_be64(b + 20), 4096u);
  EXPECT_EQ(load_be32(b + 28), 512u);
  EXPECT_EQ(encode_data_chunk(b, false, 9, 0, 4096), 28u);
  EXPECT_EQ(load_be32(b + 16), 8u + 4096);
  EXPECT_EQ(encode_error_chunk(b, 9, kEio), 26u);
  EXPECT_EQ(load_be16(b + 6), kReplyTypeError);
}

TEST(NbdPayloadPool, ReusesAndStaysUnderCap) {
  PayloadPool pool(PayloadPool::kMaxBuffer);
  unsigned c1, c2, c3;
  std::byte* a = pool.get(4096, c1);
  ASSERT_NE(a, nullptr);
  pool.put(a, c1);
  EXPECT_EQ(pool.get(100, c2), a);  // recycled, no new allocation
  EXPECT_EQ(c2, 0u);
  std::byte* big = pool.get(PayloadPool::kMaxBuffer, c3);
  EXPECT_EQ(big, nullptr);  // 4 KiB in use + 32 MiB would pass the cap
  pool.put(a, c2);
  big = pool.get(PayloadPool::kMaxBuffer, c3);  // frees the cached 4 KiB to make room
  ASSERT_NE(big, nullptr);
  EXPECT_LE(pool.bytes_held(), pool.cap());
  pool.put(big, c3);
}

TEST(NbdListen, Parse) {
  auto a = parse_listen("10810");
  EXPECT_EQ(a.host, "");
  EXPECT_EQ(a.port, "10810");
  a = parse_listen("[::1]:0");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, "0");
  a = parse_listen("0.0.0.0:99");
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_THROW(parse_listen("::1:80"), std::runtime_error);
  EXPECT_THROW(parse_listen("host:99999"), std::runtime_error);
  EXPECT_THROW(parse_listen("[::1"), std::runtime_error);
}

}  // namespace
}  // namespace mqblk::nbd

// The lock beside the socket: a second listener on a claimed path is refused with one line
// and leaves the first one's socket and lock in place; both go when the first closes.
TEST(NbdListen, SocketPathIsClaimedByOneListener) {
  char dir[] = "/tmp/mqblk-listen-testXXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/sock";
  {
    auto first = mqblk::nbd::Listener::unix_socket(path);
    try {
      (void)mqblk::nbd::Listener::unix_socket(path);
      FAIL() << "a second listener claimed " << path;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("another server holds " + path + ".lock"),
                std::string::npos)
          << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
    EXPECT_EQ(::access((path + ".lock").c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_NE(::access((path + ".lock").c_str(), F_OK), 0);
  // Free again: a new listener takes it.
  { auto again = mqblk::nbd::Listener::unix_socket(path); }
  ::rmdir(dir);
}
