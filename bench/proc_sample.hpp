// What the load clients read of another process (the host under test): its CPU time and its
// resident set, from /proc/PID/stat. Shared by bench/host-load and bench/phone.
#pragma once

#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace parley::bench {

// utime+stime of a process in seconds, and its resident set in MiB.
struct ProcessSample {
  double cpu_s = 0;
  double rss_mib = 0;
};

// nullopt: no such pid (or it could not be read).
inline std::optional<ProcessSample> sample_process(long pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto paren = line.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(paren + 2));
  std::vector<std::string> f;
  for (std::string field; fields >> field;) f.push_back(field);
  // After "pid (comm) ": field 3 (state) is f[0]; utime = field 14 → f[11], stime f[12], rss f[21].
  if (f.size() < 22) return std::nullopt;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_mib = static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
  return ProcessSample{(std::stod(f[11]) + std::stod(f[12])) / tick, std::stod(f[21]) * page_mib};
}

}  // namespace parley::bench
