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
  bool foreground = false;
  std::string copy = "auto";  // auto | user | mapped
  std::string driver;
  std::vector<std::string> attrs;
};

int cmd_add(const AddOptions& opts);
int cmd_del(int id, bool all);
int cmd_list(int id, bool json);
// The kernel's ublk features for `mqblk features` (built, available, mask, names; or the
// error that says why ublk is not usable here), and their text form.
nlohmann::json kernel_features_json();
void print_kernel_features(const nlohmann::json& ublk);
int cmd_recover(int id, bool foreground);

}  // namespace mqblk::ublk
