// Choosing the optimized engine's kernel set by name: `qparity eval --isa NAME` and the QPARITY_ISA
// environment variable (for tests and benchmarks that must run one set on a machine that has several).
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "quant/qmodel.h"

namespace qp::quant {

namespace {

constexpr OptIsa kAll[] = {OptIsa::Auto,       OptIsa::Portable, OptIsa::Avx2,   OptIsa::AvxVnni,
                           OptIsa::Avx512Vnni, OptIsa::Neon,     OptIsa::NeonDot};

}  // namespace

std::string opt_isa_available_names() {
  std::string s;
  for (OptIsa i : kAll)
    if (opt_isa_available(i)) s += (s.empty() ? "" : ", ") + std::string(opt_isa_name(i));
  return s;
}

OptIsa parse_opt_isa(const std::string &name, const std::string &where) {
  for (OptIsa i : kAll) {
    if (name != opt_isa_name(i)) continue;
    if (!opt_isa_available(i))
      fail(where + " names the kernel set '" + name + "', which this CPU or build lacks (available here: " +
               opt_isa_available_names() + ")",
           "choose one of the available sets, or auto (the fastest)");
    return i;
  }
  fail(where + " names an unknown kernel set '" + name + "' (available here: " + opt_isa_available_names() + ")",
       "choose one of the available sets, or auto (the fastest)");
}

OptIsa opt_isa_from_env() {
  const char *v = std::getenv("QPARITY_ISA");
  if (v == nullptr || *v == '\0') return OptIsa::Auto;
  return parse_opt_isa(v, "QPARITY_ISA");
}

OptIsa opt_isa_effective(OptIsa isa) {
  if (isa != OptIsa::Auto) return isa;
  // The same order as the engine's own choice (engine_opt.cpp, resolve()).
  for (OptIsa i : {OptIsa::Avx512Vnni, OptIsa::AvxVnni, OptIsa::Avx2, OptIsa::NeonDot, OptIsa::Neon})
    if (opt_isa_available(i)) return i;
  return OptIsa::Portable;
}

}  // namespace qp::quant
