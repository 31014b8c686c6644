#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "common/json_read.h"
#include "common/stats.h"
#include "data/image_folder.h"
#include "model/onnx_io.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"

namespace fs = std::filesystem;

namespace qp::cli {

namespace {

void add_quantize(CLI::App &app) {
  struct Args {
    std::string model, calib, out, weights = "per-channel", calibration = "minmax";
    quant::QuantOptions opt;
    bool force = false, skip_bad = false;
  };
  auto a = std::make_shared<Args>();
  auto *cmd = app.add_subcommand("quantize", "Post-training INT8 quantization of an FP32 model (QDQ ONNX out)");
  cmd->add_option("--model", a->model, "FP32 model (.onnx) from 'qparity train'")->required();
  cmd->add_option("--calib", a->calib, "Calibration images: a split folder, e.g. DATA/train")->required();
  cmd->add_option("--out", a->out, "INT8 model to write (.onnx, QDQ form)")->required();
  cmd->add_option("--weights", a->weights, "per-channel or per-tensor")->capture_default_str();
  cmd->add_option("--calibration", a->calibration, "minmax, percentile or mse")->capture_default_str();
  cmd->add_option("--percentile", a->opt.percentile, "Percentile for --calibration percentile")->capture_default_str();
  cmd->add_option("--calib-count", a->opt.calib_count, "Calibration images (stratified by class, seeded)")->capture_default_str();
  cmd->add_option("--seed", a->opt.seed, "Seed for choosing the calibration images")->capture_default_str();
  cmd->add_option("--threads", a->opt.threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--skip-bad", a->skip_bad, "Skip and count unreadable calibration images instead of failing");
  cmd->add_flag("--force", a->force, "Overwrite --out if it exists");
  cmd->callback([a] {
    if (fs::exists(a->out) && !a->force)
      fail("'" + a->out + "' already exists", "choose another --out, or pass --force to replace it");
    if (a->weights == "per-channel")
      a->opt.weights = quant::WeightMode::PerChannel;
    else if (a->weights == "per-tensor")
      a->opt.weights = quant::WeightMode::PerTensor;
    else
      fail("--weights must be per-channel or per-tensor (got '" + a->weights + "')");
    if (a->calibration == "minmax")
      a->opt.calibration = quant::CalibMode::MinMax;
    else if (a->calibration == "percentile")
      a->opt.calibration = quant::CalibMode::Percentile;
    else if (a->calibration == "mse")
      a->opt.calibration = quant::CalibMode::Mse;
    else
      fail("--calibration must be minmax, percentile or mse (got '" + a->calibration + "')");
    const auto mf = model::load_onnx(a->model);
    if (fs::is_directory(fs::path(a->calib) / "train"))
      fail("'" + a->calib + "' looks like a dataset root",
           "pass its training split: --calib " + (fs::path(a->calib) / "train").string());
    data::LoadOptions lo;
    lo.size = mf.graph.input.h;
    lo.classes = mf.graph.classes;
    lo.threads = a->opt.threads;
    lo.skip_bad = a->skip_bad;
    const auto split = data::load_split(a->calib, lo);
    if (!split.skipped.empty()) std::printf("%zu calibration image(s) skipped as bad (--skip-bad)\n", split.skipped.size());
    const auto q = quant::quantize_graph(mf.graph, split, a->opt);
    quant::save_qdq_onnx(q, a->out, {{"qparity.quant.fp32_model_sha256", mf.sha256},
                                            {"qparity.quant.fp32_file_bytes", std::to_string(mf.file_bytes)},
                                            {"qparity.arch", mf.graph.arch}});
    const int64_t fp32_params = model::param_count(mf.graph) * 4, int8_params = q.int8_parameter_bytes();
    std::printf("quantized %s -> %s (%s weights, %s calibration on %d images)\n", a->model.c_str(), a->out.c_str(),
                a->weights.c_str(), a->calibration.c_str(),
                std::min<int>(a->opt.calib_count, static_cast<int>(split.samples.size())));
    std::printf("parameters: FP32 %lld bytes -> INT8 %lld bytes (%.2fx smaller)\n", static_cast<long long>(fp32_params),
                static_cast<long long>(int8_params), static_cast<double>(fp32_params) / static_cast<double>(int8_params));
    for (const auto &l : q.layers)
      if (l.raised_scales > 0)  // numbered like the FP32 layers (fp32_index is the fused activation's, if any)
        std::printf("note: layer %d (%s): %d near-dead channel(s) (weights ~0): weight scale raised so the bias fits int32; "
                    "their weights round to ~0\n",
                    l.fp32_index - (l.activation.empty() ? 0 : 1), model::op_name(l.op), l.raised_scales);
  });
}

struct LoadedResults {
  std::string path, precision;
  std::vector<std::string> files, classes;
  std::vector<int> label, pred, margin;
};

LoadedResults load_results(const std::string &path) {
  if (!fs::is_regular_file(path)) fail("results file '" + path + "' does not exist", "write one with 'qparity eval --out'");
  LoadedResults r;
  r.path = path;
  // Checked reading: a missing key, a wrong type or an index outside the classes names the file and the key.
  const json_read::Source src{"results file '" + path + "'", "write it again with 'qparity eval --out'"};
  const auto j = json_read::parse_file(path, src);
  if (!j.is_object() || !j.contains("classes") || !j.contains("images"))
    fail("'" + path + "' is not a qparity results file (it has no \"classes\" and \"images\")",
         "pass a results.json written by 'qparity eval --out'");
  const nlohmann::json *precision = json_read::optional_member(j, "precision", src);
  r.precision = precision ? json_read::as_string(*precision, src, "precision") : "?";
  r.classes = json_read::string_array(j, "classes", src);
  if (r.classes.empty()) json_read::fail_at(src, "classes", "is empty");
  const auto last = static_cast<int64_t>(r.classes.size()) - 1;
  const auto &images = json_read::array(j, "images", src);
  for (size_t k = 0; k < images.size(); ++k) {
    const auto &img = images[k];
    const std::string at = json_read::index_path("images", k);
    r.files.push_back(json_read::to_string(img, "file", src, at));
    r.label.push_back(static_cast<int>(json_read::to_int(img, "label", 0, last, src, at)));
    r.pred.push_back(static_cast<int>(json_read::to_int(img, "pred", 0, last, src, at)));
    const nlohmann::json *margin = json_read::optional_member(img, "margin", src, at);
    r.margin.push_back(margin ? static_cast<int>(json_read::as_int(*margin, 0, 255, src, at + ".margin")) : -1);
  }
  return r;
}

void add_compare(CLI::App &app) {
  auto pa = std::make_shared<std::string>(), pb = std::make_shared<std::string>();
  auto *cmd = app.add_subcommand("compare", "Compare two results.json (e.g. FP32 vs INT8): agreement, flipped images, McNemar");
  cmd->add_option("--a", *pa, "First results.json (e.g. FP32)")->required();
  cmd->add_option("--b", *pb, "Second results.json (e.g. INT8)")->required();
  cmd->callback([pa, pb] {
    const auto a = load_results(*pa), b = load_results(*pb);
    if (a.files != b.files)
      fail("'" + *pa + "' and '" + *pb + "' do not cover the same images in the same order",
           "evaluate both models on the same --data");
    if (a.classes != b.classes || a.label != b.label)
      fail("'" + *pa + "' and '" + *pb + "' do not have the same classes and labels",
           "evaluate both models on the same --data with the same class order");
    const size_t n = a.files.size();
    int64_t same = 0, only_a = 0, only_b = 0;
    std::vector<size_t> flipped;
    for (size_t i = 0; i < n; ++i) {
      same += a.pred[i] == b.pred[i];
      if (a.pred[i] != b.pred[i]) flipped.push_back(i);
      const bool ra = a.pred[i] == a.label[i], rb = b.pred[i] == b.label[i];
      only_a += ra && !rb;
      only_b += rb && !ra;
    }
    std::printf("%s (%s) vs %s (%s): %zu images\n", a.path.c_str(), a.precision.c_str(), b.path.c_str(), b.precision.c_str(), n);
    std::printf("decision agreement %.2f%% (%lld/%zu), %zu flipped\n",
                n ? 100.0 * static_cast<double>(same) / static_cast<double>(n) : 0.0, static_cast<long long>(same), n,
                flipped.size());
    std::printf("right only in A: %lld, right only in B: %lld, McNemar exact p = %.4g\n", static_cast<long long>(only_a),
                static_cast<long long>(only_b), mcnemar_exact_p(only_a, only_b));
    auto name = [&](int c) {
      return c >= 0 && c < static_cast<int>(a.classes.size()) ? a.classes[static_cast<size_t>(c)] : std::to_string(c);
    };
    for (size_t i : flipped)
      std::printf("  flipped %s: true %s, A %s, B %s%s\n", a.files[i].c_str(), name(a.label[i]).c_str(), name(a.pred[i]).c_str(),
                  name(b.pred[i]).c_str(),
                  b.margin[i] >= 0 ? (", B margin " + std::to_string(b.margin[i]) + " int8 steps").c_str() : "");
  });
}

}  // namespace

void add_quant_commands(CLI::App &app) {
  add_quantize(app);
  add_compare(app);
}

}  // namespace qp::cli
