#include "mqblk/types.hpp"

#include <cerrno>

namespace mqblk {

std::string_view to_string(Op op) noexcept {
  switch (op) {
    case Op::read: return "read";
    case Op::write: return "write";
    case Op::flush: return "flush";
    case Op::discard: return "discard";
    case Op::write_zeroes: return "write_zeroes";
    case Op::zone_open: return "zone_open";
    case Op::zone_close: return "zone_close";
    case Op::zone_finish: return "zone_finish";
    case Op::zone_append: return "zone_append";
    case Op::zone_reset: return "zone_reset";
    case Op::zone_reset_all: return "zone_reset_all";
  }
  return "unknown";
}

std::string_view to_string(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::ioerr: return "I/O error";
    case Status::notsupp: return "operation not supported";
    case Status::nospc: return "no space / past the end";
    case Status::inval: return "invalid request";
    case Status::timeout: return "timed out";
    case Status::busy: return "busy";
    case Status::cancelled: return "cancelled";
    case Status::medium: return "medium error";
    case Status::readonly: return "read-only";
    case Status::zone_open_resource: return "too many open zones";
    case Status::zone_active_resource: return "too many active zones";
  }
  return "unknown";
}

int status_to_errno(Status s) noexcept {
  switch (s) {
    case Status::ok: return 0;
    case Status::ioerr: return EIO;
    case Status::notsupp: return EOPNOTSUPP;
    case Status::nospc: return ENOSPC;
    case Status::inval: return EINVAL;
    case Status::timeout: return ETIMEDOUT;
    case Status::busy: return EAGAIN;
    case Status::cancelled: return ECANCELED;
    case Status::medium: return EIO;
    case Status::readonly: return EROFS;
    case Status::zone_open_resource: return ETOOMANYREFS;
    case Status::zone_active_resource: return EOVERFLOW;
  }
  return EIO;
}

}  // namespace mqblk
