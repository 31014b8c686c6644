// qparity inspect: quantization behaviour of an INT8 model against the FP32 model it came from, or of
// an INT8 model alone (no --fp32: ranges, saturation and margins only).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/input_options.h"
#include "common/error.h"
#include "common/progress.h"
#include "data/image_folder.h"
#include "inspect/inspect.h"
#include "model/onnx_io.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"

namespace fs = std::filesystem;

namespace qp::cli {

void add_inspect_commands(CLI::App &app) {
  struct Args {
    std::string fp32, int8, data, out;
    int threads = 0;
    bool force = false, skip_bad = false;
  };
  auto a = std::make_shared<Args>();
  auto in = std::make_shared<InputArgs>();
  auto *cmd = app.add_subcommand(
      "inspect", "Quantization inspection: per-layer scales, ranges, clipping, SQNR, sensitivity and decision margins");
  cmd->add_option("--fp32", a->fp32,
                  "FP32 model (.onnx) the INT8 model was quantized from (without it: the INT8 model alone, no clipping, SQNR, "
                  "sensitivity or agreement)");
  cmd->add_option("--int8", a->int8, "INT8 model: QDQ .onnx or int8 .tflite")->required();
  cmd->add_option("--data", a->data, "Split folder to inspect on (e.g. DIR/test)")->required();
  cmd->add_option("--out", a->out, "inspection.json to write")->required();
  cmd->add_option("--threads", a->threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--skip-bad", a->skip_bad, "Skip and count unreadable images instead of failing");
  cmd->add_flag("--force", a->force, "Overwrite --out if it exists");
  in->add(cmd);  // a foreign INT8 model's input convention and classes, as for eval
  cmd->callback([a, in] {
    if (fs::exists(a->out) && !a->force)
      fail("'" + a->out + "' already exists", "choose another --out, or pass --force to replace it");
    if (fs::is_directory(fs::path(a->data) / "test") || fs::is_directory(fs::path(a->data) / "train"))
      fail("'" + a->data + "' looks like a dataset root (it holds train/ or test/), not a split",
           "pass the split to inspect on, e.g. --data " + (fs::path(a->data) / "test").string());
    if (a->fp32.empty()) {
      const auto qf = quant::load_int8_model(a->int8, in->to_override(a->int8));
      data::LoadOptions lo;
      lo.set_input(qf.model.input.h, qf.model.input.w, qf.model.input.c);
      lo.classes = qf.model.classes;
      lo.threads = a->threads;
      lo.skip_bad = a->skip_bad;
      const auto split = data::load_split(a->data, lo);
      if (!split.skipped.empty()) std::printf("%zu image(s) skipped as bad (--skip-bad)\n", split.skipped.size());
      Progress bar("inspect", static_cast<long>(split.samples.size()));
      inspect::InspectOptions opt;
      opt.threads = a->threads;
      opt.on_progress = [&bar](size_t done, size_t) { bar.update(static_cast<long>(done)); };
      auto r = inspect::inspect_int8(qf.model, split, opt);
      char took[64];
      std::snprintf(took, sizeof took, "%zu images, %.1f s", r.n_images, r.seconds);
      bar.finish(took);
      r.int8_model = a->int8;
      r.data = a->data;
      inspect::write_inspection_json(r, a->out);
      std::printf("%s alone on %s (%zu images)\n\n%s\nwrote %s\n", a->int8.c_str(), a->data.c_str(), r.n_images,
                  inspect::format_inspection_table(r).c_str(), a->out.c_str());
      return;
    }
    if (quant::is_int8_model(a->fp32))
      fail("--fp32 '" + a->fp32 + "' is an INT8 model", "pass the FP32 model as --fp32 and the INT8 model as --int8");
    auto mf = quant::load_fp32_model(a->fp32);
    if (in->convention_given()) in->apply(mf.graph);
    const auto qf = quant::load_int8_model(a->int8, in->to_override(a->int8));
    inspect::check_provenance(mf, qf);
    data::LoadOptions lo;
    lo.set_input(mf.graph.input.h, mf.graph.input.w, mf.graph.input.c);
    lo.classes = mf.graph.classes;
    lo.threads = a->threads;
    lo.skip_bad = a->skip_bad;
    const auto split = data::load_split(a->data, lo);
    if (!split.skipped.empty()) std::printf("%zu image(s) skipped as bad (--skip-bad)\n", split.skipped.size());

    Progress bar("inspect", static_cast<long>(split.samples.size()));
    inspect::InspectOptions opt;
    opt.threads = a->threads;
    opt.on_progress = [&bar](size_t done, size_t) { bar.update(static_cast<long>(done)); };
    auto r = inspect::inspect_models(mf.graph, qf.model, split, opt);
    char took[64];
    std::snprintf(took, sizeof took, "%zu images, %.1f s", r.n_images, r.seconds);
    bar.finish(took);
    r.fp32_model = a->fp32;
    r.int8_model = a->int8;
    r.data = a->data;
    inspect::write_inspection_json(r, a->out);
    std::printf("%s vs %s on %s (%zu images)\n\n%s\nwrote %s\n", a->int8.c_str(), a->fp32.c_str(), a->data.c_str(), r.n_images,
                inspect::format_inspection_table(r).c_str(), a->out.c_str());
  });
}

}  // namespace qp::cli
