// drivers/rbd/rbd_image.hpp - one open RBD image: the librados cluster handle, the pool's
// I/O context and the librbd image, opened together and closed together.
//
// Invariant: a constructed RbdImage is connected and open (the constructor throws a
// one-line ConfigError otherwise, after closing whatever it opened); image() stays valid
// until the destructor. librbd's image handle is thread-safe for aio: every hardware queue
// submits on the same one. Threads: construct and destroy on the creating thread; image()
// from any thread.
#pragma once

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cstdint>

#include "drivers/rbd/rbd_config.hpp"
#include "mqblk/disk.hpp"

namespace mqblk::rbd {

class RbdImage {
 public:
  // Connects (bounded by op_timeout), opens the pool and the image (or its snapshot,
  // read-only), reads its size. Throws ConfigError naming what failed and how to fix it.
  explicit RbdImage(const RbdConfig& cfg);
  ~RbdImage();
  RbdImage(const RbdImage&) = delete;
  RbdImage& operator=(const RbdImage&) = delete;

  rbd_image_t image() const noexcept { return image_; }
  const DiskLimits& limits() const noexcept { return limits_; }
  uint64_t image_bytes() const noexcept { return image_bytes_; }

 private:
  void close() noexcept;

  rados_t cluster_ = nullptr;
  rados_ioctx_t io_ = nullptr;
  rbd_image_t image_ = nullptr;
  uint64_t image_bytes_ = 0;
  DiskLimits limits_;
};

}  // namespace mqblk::rbd
