#include "cli/man_page.hpp"

#include <algorithm>
#include <cctype>

#include "cli/version.hpp"
#include "mqblk/faults.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::cli {

std::string roff_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 8);
  bool line_start = true;
  for (char c : text) {
    // A line starting with '.' or '\'' would be a request; \& is a zero-width guard.
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\')
      out += "\\e";
    else
      out += c;
    line_start = c == '\n';
  }
  return out;
}

namespace {

// An option's or command's name in bold: dashes as \- (the minus sign man expects in
// names a reader types).
std::string dashes(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::string header(const std::string& name, int section, const std::string& manual) {
  return ".TH " + dashes(upper(name)) + " " + std::to_string(section) + " \"\" \"mqblk " +
         roff_escape(version()) + "\" \"" + manual + "\"\n";
}

bool is_flag(const CLI::Option* o) { return o->get_expected_max() == 0; }

// --help and --help-all: every subcommand has them (from the root), said once in OPTIONS.
bool is_help(const CLI::Option* o) {
  return o->get_lnames() == std::vector<std::string>{"help"} ||
         o->get_lnames() == std::vector<std::string>{"help-all"};
}

// "\-q, \-\-queues \fIUINT\fR"
std::string option_label(const CLI::Option* o) {
  std::string label;
  for (const auto& s : o->get_snames())
    label += (label.empty() ? "" : ", ") + std::string("\\-") + s;
  for (const auto& l : o->get_lnames())
    label += (label.empty() ? "" : ", ") + std::string("\\-\\-") + dashes(l);
  label = "\\fB" + label + "\\fR";
  if (!is_flag(o)) {
    std::string type = o->get_type_name();
    if (type.empty()) type = "VALUE";
    label += " \\fI" + roff_escape(type) + "\\fR";
  }
  return label;
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

std::vector<const CLI::Option*> named_options(const CLI::App& c) {
  return c.get_options([](const CLI::Option* o) { return !o->get_positional(); });
}

std::vector<const CLI::Option*> positionals(const CLI::App& c) {
  return c.get_options([](const CLI::Option* o) { return o->get_positional(); });
}

// "mqblk bench [options] driver..." as the subsection's title.
std::string usage_line(const CLI::App& c) {
  std::string u = "mqblk " + dashes(c.get_name());
  bool has_options = false;
  for (const auto* o : named_options(c))
    if (!is_help(o)) has_options = true;
  if (has_options) u += " \\fR[\\fIoptions\\fR]\\fB";
  for (const auto* o : positionals(c)) {
    std::string p = "\\fI" + dashes(o->get_name(true, false)) + "\\fB";
    if (o->get_items_expected_max() > 1) p += " ...";
    u += " " + (o->get_required() ? p : "\\fR[" + p + "\\fR]\\fB");
  }
  return u;
}

std::string option_entry(const CLI::Option* o) {
  std::string s = ".TP\n" + option_label(o) + "\n" + roff_escape(o->get_description());
  if (!is_flag(o) && !o->get_default_str().empty())
    s += " (default: " + roff_escape(o->get_default_str()) + ")";
  if (o->get_required() && !o->get_positional()) s += " (required)";
  return s + "\n";
}

std::string command_section(const CLI::App& c) {
  std::string s = ".SS \"" + usage_line(c) + "\"\n" + roff_escape(c.get_description()) + "\n";
  for (const auto* o : positionals(c))
    s += ".TP\n\\fI" + dashes(o->get_name(true, false)) + "\\fR\n" +
         roff_escape(o->get_description()) + "\n";
  for (const auto* o : named_options(c)) {
    if (is_help(o)) continue;  // every command's
    s += option_entry(o);
  }
  return s;
}

std::string attribute_entry(const AttributeInfo& a) {
  std::string s =
      ".TP\n\\fB" + roff_escape(a.name) + "\\fR=\\fI" +
      roff_escape(a.unit.empty() ? "value" : a.unit) + "\\fR\n" + roff_escape(a.help) +
      "\n.br\nDefault: " + (a.default_value.empty() ? "none" : roff_escape(a.default_value)) + ". ";
  if (!a.live)
    s += "Fixed when the device is made (\\fBmqblk set\\fR refuses it).\n";
  else if (a.locked_while_powered)
    s += "Live: \\fBmqblk set\\fR changes it on a running device while its power is off "
         "(\\fBpower=0\\fR).\n";
  else
    s += "Live: \\fBmqblk set\\fR changes it on a running device.\n";
  return s;
}

const char* const kDescription =
    "mqblk makes block devices in userspace, built the way Linux blk-mq builds them: a "
    "driver (a null_blk-compatible test device, a file, a Ceph RBD image, or one written "
    "against the library) receives each request with a hardware queue's tag and owns it "
    "until it ends it. A device is driven in process by \\fBmqblk bench\\fR, served over "
    "NBD by \\fBmqblk nbd\\fR, or as a Linux block device /dev/ublkb\\fIN\\fR through ublk "
    "by \\fBmqblk add\\fR (where this build has the ublk frontend).\n"
    ".PP\n"
    "A driver's name follows a command's options; it takes nbdkit-style "
    "\\fIkey\\fR=\\fIvalue\\fR attributes: its own (see mqblk\\-\\fIDRIVER\\fR(5)) and "
    "the engine's, which every driver takes (mqblk\\-attributes(5)). A bad attribute is "
    "refused with one line naming it and the fix, before anything is created.\n";

std::string command_page(const CLI::App& app) {
  std::string s = header("mqblk", 1, "User Commands");
  s += ".SH NAME\nmqblk \\- block devices in userspace, built the way Linux blk-mq builds them\n";
  s += ".SH SYNOPSIS\n.B mqblk\n.I command\n.RI [ options ]\n.RI [ driver\n.RI [ key = value\n"
       ".RI ...]]\n.br\n.B mqblk\n.RB [ \\-\\-help | \\-\\-help\\-all | \\-\\-version ]\n";
  s += ".SH DESCRIPTION\n" + std::string(kDescription);
  s += ".SH OPTIONS\n";
  for (const auto* o : named_options(app)) s += option_entry(o);
  s += ".SH COMMANDS\n";
  for (const auto* c : visible_subcommands(app)) s += command_section(*c);
  s += ".SH DRIVERS\n";
  for (const auto* d : registered_drivers()) {
    const auto& info = d->info();
    s += ".TP\n\\fB" + roff_escape(info.name) + "\\fR\n" + roff_escape(info.help) +
         "; see \\fBmqblk\\-" + dashes(info.name) + "\\fR(5).\n";
  }
  s += ".SH EXIT STATUS\n0 on success; 2 when the command line is wrong (an unknown option, a "
       "bad value, no driver, a bad attribute); another non-zero status for any other "
       "failure. Each failure is said in one line on standard error.\n";
  s += ".SH ENVIRONMENT\n.TP\n.B XDG_RUNTIME_DIR\nFor a user other than root, the run "
       "directory is \\fI$XDG_RUNTIME_DIR/mqblk\\fR.\n";
  s += ".SH FILES\n.TP\n.I /run/mqblk\nThe run directory (root's): a control socket and a "
       "record per served device, which \\fBmqblk list\\fR, \\fBset\\fR and \\fBget\\fR "
       "use.\n.TP\n.I 99\\-mqblk\\-ublk.rules\nThe udev rule that lets users without root "
       "add ublk devices (\\fBmqblk add \\-\\-unprivileged\\fR; builds with the ublk frontend), "
       "installed in the udev rules "
       "directory; its action is \\fBmqblk chown\\-dev\\fR.\n";
  s += ".SH SEE ALSO\n";
  std::string also;
  for (const auto* d : registered_drivers())
    also += ".BR mqblk\\-" + dashes(d->info().name) + " (5),\n";
  s += also + ".BR mqblk\\-attributes (5),\n.BR nbdkit (1),\n.BR fio (1)\n";
  return s;
}

std::string driver_page(const DriverInfo& info) {
  const std::string name = "mqblk-" + info.name;
  std::string s = header(name, 5, "mqblk drivers");
  s += ".SH NAME\n" + dashes(name) + " \\- the " + roff_escape(info.name) +
       " driver of mqblk and its attributes\n";
  s += ".SH SYNOPSIS\n.B mqblk\n.I command\n.RI [ options ]\n.B " + roff_escape(info.name) +
       "\n.RI [ key = value\n.RI ...]\n";
  s += ".SH DESCRIPTION\n" + roff_escape(info.help) + ".\n.PP\n";
  s += info.fills_read_buffers
           ? "Its reads fill the whole buffer."
           : "A read may leave part of its buffer as it was: the frontends do not send a "
             "buffer's previous bytes to a client.";
  s += info.idempotent_writes ? " A write may be issued twice with the same result, so ublk "
                                "may reissue in-flight writes on recovery."
                              : " Its writes are not declared idempotent: ublk does not "
                                "reissue them on recovery.";
  if (info.can_be_zoned) s += " It has a zoned configuration.";
  s += "\n.SH ATTRIBUTES\n";
  for (const auto& a : info.attributes) s += attribute_entry(a);
  s += ".SH ENGINE ATTRIBUTES\nEvery driver also takes the engine's attributes: bad blocks, "
       "fault and error injection, bandwidth and power (see \\fBmqblk\\-attributes\\fR(5)):";
  const auto common = fault_attributes();
  for (size_t i = 0; i < common.size(); ++i)
    s += std::string(i == 0 ? " " : ", ") + "\\fB" + roff_escape(common[i].name) + "\\fR";
  s += ".\n.SH SEE ALSO\n.BR mqblk (1),\n.BR mqblk\\-attributes (5)\n";
  return s;
}

std::string engine_page() {
  std::string s = header("mqblk-attributes", 5, "mqblk drivers");
  s += ".SH NAME\nmqblk\\-attributes \\- the attributes every mqblk driver takes: bad "
       "blocks, faults, errors, bandwidth, power\n";
  s += ".SH SYNOPSIS\n.B mqblk\n.I command\n.RI [ options ]\n.I driver\n.RI [ key = value\n"
       ".RI ...]\n.br\n.B mqblk set\n.I id\n.IR key = value\n.RI ...\n";
  s += ".SH DESCRIPTION\nThe engine decides these before a request reaches the driver, so "
       "they work the same on every driver. They are given with the driver's own attributes "
       "when a device is made, and the live ones may be changed on a running device with "
       "\\fBmqblk set\\fR and read with \\fBmqblk get\\fR.\n";
  s += ".SH ATTRIBUTES\n";
  for (const auto& a : fault_attributes()) s += attribute_entry(a);
  s += ".SH SEE ALSO\n.BR mqblk (1)";
  for (const auto* d : registered_drivers())
    s += ",\n.BR mqblk\\-" + dashes(d->info().name) + " (5)";
  return s + "\n";
}

}  // namespace

std::vector<ManPage> man_pages(const CLI::App& app) {
  std::vector<ManPage> pages;
  pages.push_back({"mqblk", 1, command_page(app)});
  for (const auto* d : registered_drivers())
    pages.push_back({"mqblk-" + d->info().name, 5, driver_page(d->info())});
  pages.push_back({"mqblk-attributes", 5, engine_page()});
  return pages;
}

}  // namespace mqblk::cli
