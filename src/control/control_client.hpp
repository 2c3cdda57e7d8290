// control/control_client.hpp - the CLI's side of the control socket (control_server.hpp).
#pragma once

#include <string>

namespace mqblk::control {

// The control socket of device `id`: "nbdN", "ublkN" or "N" (a ublk device number).
std::string socket_of(const std::string& id);

// Sends one JSON request line to the socket and returns the reply line. Throws
// std::runtime_error (one line naming the device) when it cannot reach it in timeout_ms.
std::string request(const std::string& id, const std::string& json_line, int timeout_ms = 5000);

}  // namespace mqblk::control
