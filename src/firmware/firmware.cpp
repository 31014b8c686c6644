// The firmware stage (see firmware.h).
#include "firmware/firmware.h"

#include <filesystem>

#include "common/error.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "device/subset.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"

namespace qp::firmware {
namespace fs = std::filesystem;

FirmwareResult make_firmware(const FirmwareOptions &o) {
  const Target &t = find_target(o.target);
  const auto mf = quant::load_int8_model(o.model, o.input);
  FirmwareResult r;
  std::vector<SubsetImage> subset;
  if (!o.subset_from.empty()) {
    data::LoadOptions lo;
    lo.set_input(mf.model.input.h, mf.model.input.w, mf.model.input.c);
    lo.classes = mf.model.classes;
    lo.skip_bad = o.skip_bad;
    const auto split = data::load_split(o.subset_from, lo);
    // The self-test images may take at most a quarter of the target's flash (50 images of 96x96x3 are 1.38 MB:
    // more than the emulated Xtensa board's 1 MB): beyond that, fewer images, still a stratified seeded subset.
    auto chosen = device::choose_subset(split, o.subset, o.seed);
    const uint64_t cap = t.flash_budget / 4, bytes = split.image_bytes();
    if (bytes > 0 && chosen.size() * bytes > cap) {
      r.subset_requested = chosen.size();
      const uint64_t fit = cap / bytes;
      chosen = fit > 0 ? device::choose_subset(split, std::to_string(fit), o.seed) : std::vector<size_t>{};
    }
    for (size_t i : chosen) {
      SubsetImage s;
      s.file = fs::path(split.samples[i].path).filename().string();
      s.label = split.samples[i].label;
      const size_t bytes = split.image_bytes();
      s.rgb.assign(split.image(i), split.image(i) + bytes);
      subset.push_back(std::move(s));
    }
  }
  r.model_sha256 = mf.sha256;
  r.subset_images = subset.size();
  const Files files = generate_project(t, mf.model, mf.sha256, subset, &r.plan, o.kernels);
  write_project(files, o.out, o.force);
  r.dir = o.out;
  if (t.kind == "qemu" && o.build) {
    r.elf = build_firmware(o.out, o.make_args);
    r.footprint = elf_footprint(r.elf);
    r.footprint.target = t.name;
    r.footprint.arena_bytes = r.plan.arena_bytes;
    r.footprint.naive_arena_bytes = r.plan.naive_bytes;
    r.footprint.flash_budget = t.flash_budget;
    r.footprint.ram_budget = t.ram_budget;
    check_footprint(r.footprint);
    const std::string j = r.footprint.to_json().dump(2) + "\n";
    data::write_file_atomic((fs::path(o.out) / "footprint.json").string(), j.data(), j.size());
  }
  return r;
}

}  // namespace qp::firmware
