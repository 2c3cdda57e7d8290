#include "cli/units.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace mqblk::cli {

uint64_t parse_size(const std::string& text, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || errno || text[0] == '-')
    throw std::invalid_argument(fmt::format("{} '{}': not a size (e.g. 4k, 64k, 1M)", what, text));
  std::string unit(end);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.size() == 2 && unit[1] == 'b') unit.pop_back();
  if (unit == "kib" || unit == "mib" || unit == "gib" || unit == "tib") unit.resize(1);
  unsigned shift;
  if (unit.empty() || unit == "b")
    shift = 0;
  else if (unit == "k")
    shift = 10;
  else if (unit == "m")
    shift = 20;
  else if (unit == "g")
    shift = 30;
  else if (unit == "t")
    shift = 40;
  else
    throw std::invalid_argument(
        fmt::format("{} '{}': unknown unit '{}' (use k, M, G or T, binary)", what, text, end));
  if (shift && v > (UINT64_MAX >> shift))
    throw std::invalid_argument(fmt::format("{} '{}': too large", what, text));
  return static_cast<uint64_t>(v) << shift;
}

double parse_duration_s(const std::string& text, const std::string& what) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(v > 0))
    throw std::invalid_argument(
        fmt::format("{} '{}': not a positive duration (e.g. 5s, 500ms)", what, text));
  std::string unit(end);
  if (unit.empty() || unit == "s") return v;
  if (unit == "ms") return v / 1e3;
  if (unit == "us") return v / 1e6;
  if (unit == "m") return v * 60;
  throw std::invalid_argument(
      fmt::format("{} '{}': unknown unit '{}' (use s, ms, us or m)", what, text, unit));
}

std::string human_count(double v) {
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

}  // namespace mqblk::cli
