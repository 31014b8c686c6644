// Firmware build and footprint (see build.h).
#include "firmware/build.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cctype>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/shell.h"
#include "data/image_io.h"

namespace qp::firmware {
namespace fs = std::filesystem;

namespace {

template <typename T>
T rd(const std::vector<uint8_t> &b, size_t off) {
  if (off + sizeof(T) > b.size()) fail("truncated ELF file");
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

std::string run_capture(const std::string &cmd, int *status) {
  std::string out;
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) fail("could not run '" + cmd + "'");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = pclose(p);
  return out;
}

}  // namespace

nlohmann::json Footprint::to_json() const {
  return {{"target", target},
          {"code_bytes", code_bytes},
          {"runtime_code_bytes", runtime_code_bytes},
          {"rodata_bytes", rodata_bytes},
          {"weights_bytes", weights_bytes},
          {"subset_bytes", subset_bytes},
          {"data_bytes", data_bytes},
          {"bss_bytes", bss_bytes},
          {"flash_bytes", flash_bytes},
          {"ram_bytes", ram_bytes},
          {"arena_bytes", arena_bytes},
          {"naive_arena_bytes", naive_arena_bytes},
          {"stack_bytes", stack_bytes},
          {"flash_budget", flash_budget},
          {"ram_budget", ram_budget},
          {"float_symbols", float_symbols}};
}

Footprint elf_footprint(const std::string &path) {
  const auto b = data::read_file_bytes(path);
  if (b.size() < 52 || std::memcmp(b.data(), "\x7f" "ELF", 4) != 0 || b[4] != 1 || b[5] != 1)
    fail("'" + path + "' is not a little-endian ELF32 firmware image", "build it with the generated Makefile");
  Footprint f;
  const uint32_t shoff = rd<uint32_t>(b, 32);
  const uint16_t shentsize = rd<uint16_t>(b, 46), shnum = rd<uint16_t>(b, 48), shstrndx = rd<uint16_t>(b, 50);
  struct Sec {
    uint32_t name, type, flags, addr, off, size, link, entsize;
  };
  std::vector<Sec> s(shnum);
  for (uint16_t i = 0; i < shnum; ++i) {
    const size_t o = shoff + static_cast<size_t>(i) * shentsize;
    s[i] = {rd<uint32_t>(b, o), rd<uint32_t>(b, o + 4), rd<uint32_t>(b, o + 8), rd<uint32_t>(b, o + 12),
            rd<uint32_t>(b, o + 16), rd<uint32_t>(b, o + 20), rd<uint32_t>(b, o + 24), rd<uint32_t>(b, o + 36)};
  }
  auto str = [&](uint32_t table_off, uint32_t idx) {
    std::string r;
    for (size_t p = table_off + idx; p < b.size() && b[p]; ++p) r += static_cast<char>(b[p]);
    return r;
  };
  const uint32_t SHF_WRITE = 1, SHF_ALLOC = 2, SHT_NOBITS = 8, SHT_SYMTAB = 2;
  for (const auto &x : s) {
    const std::string name = shstrndx < shnum ? str(s[shstrndx].off, x.name) : "";
    if (!(x.flags & SHF_ALLOC) || x.size == 0) continue;
    if (name.find("stack") != std::string::npos) f.stack_bytes += x.size;
    if (x.type == SHT_NOBITS)
      f.bss_bytes += x.size;
    else if (x.flags & SHF_WRITE)
      f.data_bytes += x.size;
    else
      f.flash_bytes += x.size;  // code and read-only data (linker scripts often merge them)
  }
  static const char *kFloat[] = {"__addsf3", "__subsf3", "__mulsf3", "__divsf3", "__floatsisf", "__fixsfsi", "__extendsfdf2",
                                 "__adddf3", "__subdf3", "__muldf3", "__divdf3", "__floatsidf", "__fixdfsi", "__truncdfsf2"};
  for (const auto &x : s) {
    if (x.type != SHT_SYMTAB || x.entsize < 16) continue;
    const uint32_t strtab = s[x.link].off;
    for (size_t o = x.off; o + 16 <= static_cast<size_t>(x.off) + x.size; o += x.entsize) {
      const std::string name = str(strtab, rd<uint32_t>(b, o));
      const uint32_t size = rd<uint32_t>(b, o + 8);
      const uint8_t type = b[o + 12] & 0xf;  // 1 object, 2 func
      const uint16_t shndx = rd<uint16_t>(b, o + 14);
      if (shndx == 0) continue;
      if (type == 2) f.code_bytes += size;
      if (type == 2 && name.starts_with("qp_")) f.runtime_code_bytes += size;
      size_t d = 4;
      while (d < name.size() && std::isdigit(static_cast<unsigned char>(name[d]))) ++d;
      if (type == 1 && name.starts_with("qp_l") && d > 4 && d < name.size() && name[d] == '_') f.weights_bytes += size;
      if (type == 1 && (name == "qp_subset_images" || name == "qp_subset_labels")) f.subset_bytes += size;
      for (const char *fl : kFloat)
        if (name == fl) f.float_symbols.push_back(name);
    }
  }
  f.rodata_bytes = f.flash_bytes > f.code_bytes ? f.flash_bytes - f.code_bytes : 0;
  f.flash_bytes += f.data_bytes;  // initialised data is stored in flash too
  f.ram_bytes = f.data_bytes + f.bss_bytes;
  return f;
}

std::string build_firmware(const std::string &dir, const std::string &extra) {
  if (!fs::is_regular_file(fs::path(dir) / "Makefile"))
    fail("'" + dir + "' is not a generated emulator firmware project (no Makefile)", "generate one with 'qparity firmware --target qemu-rv32'");
  int status = 0;
  const std::string log = run_capture("make -s -C " + shell_quote(dir) + " " + extra, &status);
  if (status != 0) {
    std::string tail = log.size() > 3000 ? log.substr(log.size() - 3000) : log;
    std::string what = "the firmware build in '" + dir + "' failed";
    std::string fix = "see the build output above";
    if (log.find("command not found") != std::string::npos || log.find("No such file or directory") != std::string::npos)
      fix = "install the cross toolchains: scripts/install-deps.sh build";
    if (log.find("must be integer-only") != std::string::npos) what += ": floating-point support is linked (integer-only rule)";
    if (log.find("heap allocator") != std::string::npos) what += ": a heap allocator is linked (static arena rule)";
    if (log.find("overflowed") != std::string::npos || log.find("will not fit") != std::string::npos)
      what += ": the firmware does not fit the target's flash/RAM budget";
    throw Error(what + "\n" + tail + "\n  fix: " + fix);
  }
  return (fs::path(dir) / "firmware.elf").string();
}

void check_footprint(const Footprint &f) {
  if (!f.float_symbols.empty())
    fail("the firmware links floating-point support (" + f.float_symbols.front() + ")", "the runtime must stay integer-only");
  if (f.flash_budget && f.flash_bytes > f.flash_budget)
    fail("the firmware needs " + std::to_string(f.flash_bytes) + " bytes of flash, over the " + f.target + " budget of " +
             std::to_string(f.flash_budget),
         "use a smaller model or a board with more flash");
  if (f.ram_budget && f.ram_bytes > f.ram_budget)
    fail("the firmware needs " + std::to_string(f.ram_bytes) + " bytes of RAM, over the " + f.target + " budget of " +
             std::to_string(f.ram_budget),
         "use a smaller model or a board with more RAM");
}

}  // namespace qp::firmware
