// ublk/commands.hpp - the `mqblk add/del/list/features/recover` verbs, as ublksrv has them.
//
// Each returns the process exit status; failures print one line on stderr.
#pragma once

#include <string>
#include <vector>

namespace mqblk::ublk {

struct AddOptions {
  int id = -1;
  int queues = -1;
  int depth = -1;
  int recovery = 0;
  bool foreground = false;
  std::string copy = "auto";  // auto | user | mapped
  std::string driver;
  std::vector<std::string> attrs;
};

int cmd_add(const AddOptions& opts);
int cmd_del(int id, bool all);
int cmd_list(int id, bool json);
int cmd_features(bool json);
int cmd_recover(int id, bool foreground);

}  // namespace mqblk::ublk
