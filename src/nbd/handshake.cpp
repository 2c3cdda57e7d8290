#include "nbd/handshake.hpp"

#include <algorithm>

#include "nbd/protocol.hpp"
#include "nbd/wire.hpp"

namespace mqblk::nbd {

namespace {
// A cursor over option data that never reads past its end.
struct Reader {
  const std::string& s;
  size_t pos = 0;
  bool u32(uint32_t& v) {
    if (s.size() - pos < 4) return false;
    v = load_be32(reinterpret_cast<const uint8_t*>(s.data()) + pos);
    pos += 4;
    return true;
  }
  bool u16(uint16_t& v) {
    if (s.size() - pos < 2) return false;
    v = load_be16(reinterpret_cast<const uint8_t*>(s.data()) + pos);
    pos += 2;
    return true;
  }
  bool str(uint32_t n, std::string& out) {
    if (s.size() - pos < n) return false;
    out.assign(s, pos, n);
    pos += n;
    return true;
  }
  bool done() const { return pos == s.size(); }
};
}  // namespace

Handshake::Handshake(const ExportInfo& exp) : exp_(exp) {
  put_be64(out_, kNbdMagic);
  put_be64(out_, kIHaveOpt);
  put_be16(out_, kFlagFixedNewstyle | kFlagNoZeroes);
}

void Handshake::close(const char* why) {
  state_ = State::closed;
  reason_ = why;
}

bool Handshake::export_matches(const std::string& name) const {
  // The empty name is the default export; our one export answers to it and to its name.
  return name.empty() || name == exp_.name;
}

size_t Handshake::feed(const uint8_t* data, size_t len) {
  size_t used = 0;
  while (state_ == State::options && used < len) {
    const uint8_t* p = data + used;
    size_t avail = len - used;
    switch (phase_) {
      case Phase::client_flags: {
        size_t take = std::min<size_t>(4 - hdr_have_, avail);
        std::copy(p, p + take, hdr_ + hdr_have_);
        hdr_have_ += take;
        used += take;
        if (hdr_have_ < 4) break;
        hdr_have_ = 0;
        uint32_t flags = load_be32(hdr_);
        if (flags & ~(kClientFixedNewstyle | kClientNoZeroes)) {
          close("client set unknown handshake flags");
          break;
        }
        if (!(flags & kClientFixedNewstyle)) {
          close("client does not speak fixed newstyle");
          break;
        }
        no_zeroes_ = flags & kClientNoZeroes;
        phase_ = Phase::opt_header;
        break;
      }
      case Phase::opt_header: {
        size_t take = std::min<size_t>(16 - hdr_have_, avail);
        std::copy(p, p + take, hdr_ + hdr_have_);
        hdr_have_ += take;
        used += take;
        if (hdr_have_ < 16) break;
        hdr_have_ = 0;
        if (load_be64(hdr_) != kIHaveOpt) {
          close("bad option magic");
          break;
        }
        opt_ = load_be32(hdr_ + 8);
        opt_len_ = load_be32(hdr_ + 12);
        data_.clear();
        if (opt_len_ > kMaxOptionLength) {
          skip_left_ = opt_len_;
          phase_ = Phase::opt_skip;
        } else if (opt_len_ == 0) {
          handle_option();
        } else {
          phase_ = Phase::opt_data;
        }
        break;
      }
      case Phase::opt_data: {
        size_t take = std::min<size_t>(opt_len_ - data_.size(), avail);
        data_.append(reinterpret_cast<const char*>(p), take);
        used += take;
        if (data_.size() == opt_len_) handle_option();
        break;
      }
      case Phase::opt_skip: {
        size_t take = std::min<size_t>(skip_left_, avail);
        skip_left_ -= static_cast<uint32_t>(take);
        used += take;
        if (skip_left_ == 0) {
          phase_ = Phase::opt_header;
          if (opt_ == kOptExportName) {
            close("export name too long");  // EXPORT_NAME has no way to answer an error
          } else if (!refuse_before_tls()) {
            error(kRepErrTooBig, "option data too long");
          }
        }
        break;
      }
    }
  }
  return used;
}

void Handshake::reply(uint32_t type, const std::string& data) {
  put_be64(out_, kOptReplyMagic);
  put_be32(out_, opt_);
  put_be32(out_, type);
  put_be32(out_, static_cast<uint32_t>(data.size()));
  out_ += data;
}

void Handshake::error(uint32_t type, const char* msg) { reply(type, msg); }

// --tls=require before TLS is up: every option but STARTTLS and ABORT is refused (the
// export is not described, nor listed). Returns true when it refused opt_.
bool Handshake::refuse_before_tls() {
  if (exp_.tls != TlsMode::require || tls_active_) return false;
  if (opt_ == kOptStartTls || opt_ == kOptAbort) return false;
  if (opt_ == kOptExportName) {
    close("NBD_OPT_EXPORT_NAME before NBD_OPT_STARTTLS (the server requires TLS)");
  } else {
    error(kRepErrTlsReqd, "TLS is required: send NBD_OPT_STARTTLS first");
  }
  return true;
}

void Handshake::handle_starttls() {
  if (exp_.tls == TlsMode::off) {
    return error(kRepErrPolicy, "TLS is off on this server (mqblk nbd --tls=on|require)");
  }
  if (tls_active_) return error(kRepErrInvalid, "TLS is already active");
  if (!data_.empty()) return error(kRepErrInvalid, "NBD_OPT_STARTTLS takes no data");
  reply(kRepAck);
  state_ = State::starttls;
}

void Handshake::tls_started() {
  if (state_ != State::starttls) return;
  tls_active_ = true;
  neg_ = Negotiated{};  // nothing negotiated in the clear survives (structured replies...)
  state_ = State::options;
}

void Handshake::handle_option() {
  phase_ = Phase::opt_header;
  if (refuse_before_tls()) return;
  switch (opt_) {
    case kOptExportName:
      if (!export_matches(data_)) {
        close("unknown export name (NBD_OPT_EXPORT_NAME cannot report errors)");
        return;
      }
      finish_export_name();
      return;
    case kOptAbort:
      reply(kRepAck);
      close("client aborted the handshake");
      return;
    case kOptList: {
      if (!data_.empty()) return error(kRepErrInvalid, "NBD_OPT_LIST takes no data");
      std::string d;
      put_be32(d, static_cast<uint32_t>(exp_.name.size()));
      d += exp_.name;
      d += exp_.description;
      reply(kRepServer, d);
      reply(kRepAck);
      return;
    }
    case kOptStartTls: return handle_starttls();
    case kOptInfo: return handle_info_go(false);
    case kOptGo: return handle_info_go(true);
    case kOptStructuredReply:
      if (!data_.empty()) return error(kRepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
      neg_.structured_replies = true;
      reply(kRepAck);
      return;
    case kOptListMetaContext: return handle_meta_context(false);
    case kOptSetMetaContext: return handle_meta_context(true);
    default: return error(kRepErrUnsup, "option not supported");
  }
}

void Handshake::finish_export_name() {
  neg_.transmission_flags = exp_.transmission_flags(neg_.structured_replies);
  put_be64(out_, exp_.size);
  put_be16(out_, neg_.transmission_flags);
  if (!no_zeroes_) out_.append(124, '\0');
  state_ = State::transmission;
}

void Handshake::send_info_export() {
  std::string d;
  put_be16(d, kInfoExport);
  put_be64(d, exp_.size);
  put_be16(d, exp_.transmission_flags(neg_.structured_replies));
  reply(kRepInfo, d);
}

void Handshake::handle_info_go(bool go) {
  Reader r{data_};
  uint32_t name_len = 0;
  std::string name;
  uint16_t nr = 0;
  if (!r.u32(name_len) || !r.str(name_len, name) || !r.u16(nr) ||
      data_.size() - r.pos != size_t{nr} * 2) {
    return error(kRepErrInvalid, "malformed NBD_OPT_INFO/GO data");
  }
  if (!export_matches(name)) return error(kRepErrUnknown, "no export of that name");
  bool want_name = false, want_desc = false;
  for (uint16_t i = 0; i < nr; i++) {
    uint16_t t = 0;
    r.u16(t);
    if (t == kInfoName) want_name = true;
    if (t == kInfoDescription) want_desc = true;
  }
  send_info_export();
  if (want_name) {
    std::string d;
    put_be16(d, kInfoName);
    d += exp_.name;
    reply(kRepInfo, d);
  }
  if (want_desc && !exp_.description.empty()) {
    std::string d;
    put_be16(d, kInfoDescription);
    d += exp_.description;
    reply(kRepInfo, d);
  }
  // Block sizes are sent whether or not they were asked for (the spec allows it): we do
  // enforce the minimum, and clients that know it avoid EINVAL.
  std::string d;
  put_be16(d, kInfoBlockSize);
  put_be32(d, exp_.min_block);
  put_be32(d, exp_.pref_block);
  put_be32(d, exp_.max_block);
  reply(kRepInfo, d);
  reply(kRepAck);
  if (go) {
    neg_.transmission_flags = exp_.transmission_flags(neg_.structured_replies);
    state_ = State::transmission;
  }
}

void Handshake::handle_meta_context(bool set) {
  if (!neg_.structured_replies) {
    return error(kRepErrInvalid, "negotiate NBD_OPT_STRUCTURED_REPLY first");
  }
  Reader r{data_};
  uint32_t name_len = 0, nr = 0;
  std::string name;
  if (!r.u32(name_len) || !r.str(name_len, name) || !r.u32(nr)) {
    return error(kRepErrInvalid, "malformed meta context data");
  }
  bool match = false;
  for (uint32_t i = 0; i < nr; i++) {
    uint32_t qlen = 0;
    std::string q;
    if (!r.u32(qlen) || !r.str(qlen, q))
      return error(kRepErrInvalid, "malformed meta context query");
    // LIST accepts a bare namespace ("base:") as "everything in it"; SET wants full names.
    if (q == kBaseAllocation || (!set && q == "base:")) match = true;
  }
  if (!r.done()) return error(kRepErrInvalid, "trailing bytes in meta context data");
  if (!export_matches(name)) return error(kRepErrUnknown, "no export of that name");
  if (!set && nr == 0) match = true;  // an empty LIST query lists every context
  if (set) neg_.base_allocation = match;
  if (match) {
    std::string d;
    put_be32(d, set ? kBaseAllocationId : 0);
    d += kBaseAllocation;
    reply(kRepMetaContext, d);
  }
  reply(kRepAck);
}

}  // namespace mqblk::nbd
