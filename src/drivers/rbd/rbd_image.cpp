// drivers/rbd/rbd_image.cpp - connecting to the cluster and opening the image, with one
// line for each way that fails.
#include "drivers/rbd/rbd_image.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <string>

namespace mqblk::rbd {

RbdImage::RbdImage(const RbdConfig& cfg) {
  const std::string who = cfg.id.empty() ? "client.admin" : "client." + cfg.id;
  const std::string where = fmt::format("pool={} image={}{}{}", cfg.pool, cfg.image,
                                        cfg.snap.empty() ? "" : " snap=", cfg.snap);
  auto fail = [&](const std::string& what) {
    close();
    throw ConfigError("rbd: " + where + ": " + what);
  };
  int r = rados_create(&cluster_, cfg.id.empty() ? nullptr : cfg.id.c_str());
  if (r < 0) {
    cluster_ = nullptr;
    fail(fmt::format("cannot create a librados handle for {}: {}", who, errno_text(-r)));
  }
  r = rados_conf_read_file(cluster_, cfg.conf.empty() ? nullptr : cfg.conf.c_str());
  if (r < 0) {
    if (cfg.conf.empty())
      fail(
          fmt::format("no ceph.conf found ($CEPH_CONF, /etc/ceph/ceph.conf, ~/.ceph/config, "
                      "./ceph.conf): {} (give conf=PATH)",
                      errno_text(-r)));
    fail(fmt::format("conf={}: cannot read it: {} (give a readable ceph.conf)", cfg.conf,
                     errno_text(-r)));
  }
  rados_conf_parse_env(cluster_, nullptr);  // CEPH_ARGS, as every Ceph tool honours it
  // Errors reach the user as this driver's one-line messages; librados's own lines go to
  // its log file (log_file in the conf), not to the server's stderr.
  for (const char* opt : {"log_to_stderr", "err_to_stderr"}) {
    r = rados_conf_set(cluster_, opt, "false");
    if (r < 0) fail(fmt::format("cannot set {}=false: {}", opt, errno_text(-r)));
  }
  if (!cfg.keyring.empty()) {
    r = rados_conf_set(cluster_, "keyring", cfg.keyring.c_str());
    if (r < 0) fail(fmt::format("keyring={}: {}", cfg.keyring, errno_text(-r)));
  }
  // librbd cannot cancel an aio: these bounds are what turns a stopped cluster into errors.
  const std::string t = std::to_string(cfg.op_timeout_s);
  for (const char* opt : {"rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"}) {
    r = rados_conf_set(cluster_, opt, t.c_str());
    if (r < 0) fail(fmt::format("cannot set {}={}: {}", opt, t, errno_text(-r)));
  }
  // The device declares a volatile write cache, so its clients send flushes: librbd's
  // cache may hold writes from the start instead of writing through until a first flush.
  r = rados_conf_set(cluster_, "rbd_cache_writethrough_until_flush", "false");
  if (r < 0) fail(fmt::format("cannot set rbd_cache_writethrough_until_flush: {}", errno_text(-r)));
  r = rados_connect(cluster_);
  if (r < 0) {
    std::string hint;
    if (r == -ETIMEDOUT || r == -EINTR)
      hint = fmt::format(
          "no monitor answered within op_timeout={}s (is the cluster running, and "
          "is `mon host` in the conf right?)",
          cfg.op_timeout_s);
    else if (r == -EACCES || r == -EPERM)
      hint = fmt::format("{} was refused (check id= and keyring=)", who);
    else if (r == -ENOENT)
      hint =
          fmt::format("no key for {} (give keyring=PATH, or id= of a client the keyring has)", who);
    else
      hint = "check the conf's mon host and the keyring";
    fail(fmt::format("cannot connect as {}: {}: {}", who, errno_text(-r), hint));
  }
  r = rados_ioctx_create(cluster_, cfg.pool.c_str(), &io_);
  if (r < 0) {
    io_ = nullptr;
    fail(r == -ENOENT ? std::string("no such pool (list them with `ceph osd lspools`)")
                      : fmt::format("cannot open the pool: {}", errno_text(-r)));
  }
  const char* snap = cfg.snap.empty() ? nullptr : cfg.snap.c_str();
  r = cfg.readonly ? rbd_open_read_only(io_, cfg.image.c_str(), &image_, snap)
                   : rbd_open(io_, cfg.image.c_str(), &image_, snap);
  if (r < 0) {
    image_ = nullptr;
    if (r == -ENOENT)
      fail(snap ? "no such image or snapshot (list them with `rbd ls POOL`, `rbd snap ls "
                  "POOL/IMAGE`)"
                : "no such image (list them with `rbd ls POOL`; create one with `rbd create`)");
    fail(fmt::format("cannot open the image: {}", errno_text(-r)));
  }
  r = rbd_get_size(image_, &image_bytes_);
  if (r < 0) fail(fmt::format("cannot read the image's size: {}", errno_text(-r)));
  if (image_bytes_ < 512) fail("the image is smaller than one 512-byte sector (rbd resize it)");

  DiskLimits& l = limits_;
  l.capacity_bytes = image_bytes_ & ~uint64_t{511};  // a tail under 512 bytes is not served
  l.logical_block_size = 512;
  l.physical_block_size = 4096;  // librbd splits into objects; 4k is what it writes whole
  l.max_sectors = 8192;          // 4 MiB: one object of a default image
  l.read_only = cfg.readonly;
  if (!cfg.readonly) {
    l.discard_granularity = 512;
    l.max_discard_sectors = UINT32_MAX >> 9;
    l.max_write_zeroes_sectors = UINT32_MAX >> 9;
  }
  // librbd's cache (rbd_cache, on by default) holds writes until a flush.
  l.volatile_write_cache = true;
  l.fua = false;
}

RbdImage::~RbdImage() { close(); }

void RbdImage::close() noexcept {
  if (image_) rbd_close(image_);
  if (io_) rados_ioctx_destroy(io_);
  if (cluster_) rados_shutdown(cluster_);
  image_ = nullptr;
  io_ = nullptr;
  cluster_ = nullptr;
}

}  // namespace mqblk::rbd
