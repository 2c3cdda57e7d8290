// tests/rbd/mon_command.cpp - `rbd_mon_command JSON`: one monitor command through librados,
// for the test cluster where Ceph's Python `ceph` tool cannot run (the VM's guest has no
// Python). Reads the cluster from $CEPH_CONF (librados's search); prints the command's
// output; exits 0, or 1 with one line naming the command and librados's error.
// Every operation is bounded: 10 s to connect, 10 s per monitor command.
#include <rados/librados.h>

#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr,
                 "usage: rbd_mon_command '{\"prefix\": \"osd stat\", \"format\": \"json\"}'\n");
    return 2;
  }
  rados_t cluster = nullptr;
  int r = rados_create(&cluster, nullptr);
  if (r == 0) r = rados_conf_read_file(cluster, nullptr);
  for (const char* opt : {"client_mount_timeout", "rados_mon_op_timeout"})
    if (r == 0) r = rados_conf_set(cluster, opt, "10");
  if (r == 0) r = rados_conf_set(cluster, "log_to_stderr", "false");
  if (r == 0) r = rados_conf_set(cluster, "err_to_stderr", "false");
  if (r == 0) r = rados_connect(cluster);
  if (r < 0) {
    std::fprintf(stderr, "rbd_mon_command: cannot connect ($CEPH_CONF): %s\n", std::strerror(-r));
    if (cluster) rados_shutdown(cluster);
    return 1;
  }
  const char* cmd[] = {argv[1]};
  char *out = nullptr, *status = nullptr;
  size_t out_len = 0, status_len = 0;
  r = rados_mon_command(cluster, cmd, 1, "", 0, &out, &out_len, &status, &status_len);
  if (r < 0) {
    std::fprintf(stderr, "rbd_mon_command: %s: %s: %.*s\n", argv[1], std::strerror(-r),
                 static_cast<int>(status_len), status ? status : "");
  } else {
    std::fwrite(out, 1, out_len, stdout);
    std::fputc('\n', stdout);
  }
  rados_buffer_free(out);
  rados_buffer_free(status);
  rados_shutdown(cluster);
  return r < 0 ? 1 : 0;
}
