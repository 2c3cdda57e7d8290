#include "nbd/request.hpp"

#include "nbd/protocol.hpp"
#include "nbd/wire.hpp"

namespace mqblk::nbd {

bool parse_request(const uint8_t* p, Request& out) noexcept {
  if (load_be32(p) != kRequestMagic) return false;
  out.flags = load_be16(p + 4);
  out.type = load_be16(p + 6);
  out.cookie = load_be64(p + 8);
  out.offset = load_be64(p + 16);
  out.length = load_be32(p + 24);
  return true;
}

namespace {

constexpr Plan ok() { return {Action::execute, 0}; }
constexpr Plan err(uint32_t e) { return {Action::reply_error, e}; }

bool in_range(const Request& r, uint64_t size) {
  return r.offset <= size && r.length <= size - r.offset;
}
bool aligned(const Request& r, uint32_t min_block) {
  // min_block is a power of two.
  return ((r.offset | r.length) & (min_block - 1)) == 0;
}

Plan plan_write(const Request& r, const ExportInfo& exp) {
  Plan p = ok();
  // The order is the precedence of the errors (a bad flag is EINVAL even when read-only).
  if (r.flags & ~kCmdFlagFua)
    p = err(kEinval);  // NOLINT(bugprone-branch-clone)
  else if (exp.read_only)
    p = err(kEperm);
  else if (r.length == 0 || r.length > exp.max_block || !aligned(r, exp.min_block))
    p = err(kEinval);
  else if (!in_range(r, exp.size))
    p = err(kEnospc);
  if (p.action == Action::execute) return p;
  // The payload is on the wire whatever we think of the header.
  if (r.length > kMaxDiscardPayload) return {Action::close, p.error};
  return {Action::discard_then_error, p.error};
}

}  // namespace

Plan plan_request(const Request& r, const ExportInfo& exp, const Negotiated& neg) noexcept {
  switch (r.type) {
    case kCmdRead: {
      uint16_t allowed = kCmdFlagFua | (neg.structured_replies ? kCmdFlagDf : 0);
      if (r.flags & ~allowed) return err(kEinval);
      if (r.length == 0 || r.length > exp.max_block || !aligned(r, exp.min_block))
        return err(kEinval);
      if (!in_range(r, exp.size)) return err(kEinval);
      return ok();
    }
    case kCmdWrite: return plan_write(r, exp);
    case kCmdDisc: return {Action::disconnect, 0};
    case kCmdFlush:
      // Offset and length should be 0; a flush covers the whole device anyway.
      if (r.flags & ~kCmdFlagFua) return err(kEinval);
      return ok();
    case kCmdTrim:
      if (r.flags & ~kCmdFlagFua) return err(kEinval);
      if (exp.read_only) return err(kEperm);
      if (!exp.trim()) return err(kEinval);
      if (r.length == 0 || !aligned(r, exp.min_block)) return err(kEinval);
      if (!in_range(r, exp.size)) return err(kEnospc);
      return ok();
    case kCmdWriteZeroes:
      if (r.flags & ~(kCmdFlagFua | kCmdFlagNoHole | kCmdFlagFastZero)) return err(kEinval);
      if (exp.read_only) return err(kEperm);
      if (!exp.write_zeroes()) return err(kEinval);
      if (r.length == 0 || !aligned(r, exp.min_block)) return err(kEinval);
      if (!in_range(r, exp.size)) return err(kEnospc);
      return ok();
    case kCmdCache:
      if (r.flags & ~kCmdFlagFua) return err(kEinval);
      if (!aligned(r, exp.min_block) || !in_range(r, exp.size)) return err(kEinval);
      return ok();
    case kCmdBlockStatus:
      if (r.flags & ~(kCmdFlagFua | kCmdFlagReqOne)) return err(kEinval);
      if (!neg.structured_replies || !neg.base_allocation) return err(kEinval);
      if (r.length == 0 || !in_range(r, exp.size)) return err(kEinval);
      return ok();
    default: return err(kEinval);
  }
}

uint32_t wire_error(Status s) noexcept {
  switch (s) {
    case Status::ok: return 0;
    case Status::notsupp: return kEnotsup;
    case Status::nospc: return kEnospc;
    case Status::inval: return kEinval;
    case Status::cancelled: return kEshutdown;
    case Status::readonly: return kEperm;
    case Status::busy: return kEnomem;
    default: return kEio;
  }
}

}  // namespace mqblk::nbd
