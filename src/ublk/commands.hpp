// ublk/commands.hpp - the `mqblk add/del/list/recover` verbs, as ublksrv has them, and the
// ublk part of `mqblk features`.
//
// Each returns the process exit status; failures print one line on stderr.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mqblk::ublk {

struct AddOptions {
  int id = -1;
  int queues = -1;
  int depth = -1;
  int recovery = 0;
  int reissue = 0;  // -i 1: USER_RECOVERY_REISSUE (implies -r 1)
  int fail_io = 0;  // -e 1: USER_RECOVERY_FAIL_IO (implies -r 1)
  bool unprivileged = false;
  bool foreground = false;
  std::string copy = "auto";  // auto | user | mapped
  std::string driver;
  std::vector<std::string> attrs;
};

int cmd_add(const AddOptions& opts);
// force: delete a device even while a file system on it is mounted (it then sees EIO).
int cmd_del(int id, bool all, bool force);
// The udev rule's action for an unprivileged device's node (ublkcN or ublkbN, as udev's
// %k): hands it to the user who added the device (GET_DEV_INFO2's owner_uid/owner_gid).
// A privileged device's nodes are left alone.
int cmd_chown_dev(const std::string& name);
int cmd_list(int id, bool json);
// The kernel's ublk features for `mqblk features` (built, available, mask, names; or the
// error that says why ublk is not usable here), and their text form.
nlohmann::json kernel_features_json();
void print_kernel_features(const nlohmann::json& ublk);
int cmd_recover(int id, bool foreground);

}  // namespace mqblk::ublk
