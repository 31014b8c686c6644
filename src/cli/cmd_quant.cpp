#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/input_options.h"
#include "common/error.h"
#include "common/json_read.h"
#include "common/stats.h"
#include "data/image_folder.h"
#include "eval/results_io.h"
#include "model/onnx_io.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "tflite/tflite_read.h"
#include "tflite/tflite_write.h"

namespace fs = std::filesystem;

namespace qp::cli {

namespace {

void add_quantize(CLI::App &app) {
  struct Args {
    std::string model, calib, out, weights = "per-channel", calibration = "minmax";
    quant::QuantOptions opt;
    bool force = false, skip_bad = false;
    InputArgs input;
  };
  auto a = std::make_shared<Args>();
  auto *cmd = app.add_subcommand("quantize", "Post-training INT8 quantization of an FP32 model (QDQ ONNX or TFLite out)");
  cmd->add_option("--model", a->model, "FP32 model (.onnx) from 'qparity train'")->required();
  cmd->add_option("--calib", a->calib, "Calibration images: a split folder, e.g. DATA/train")->required();
  cmd->add_option("--out", a->out, "INT8 model to write: .onnx (QDQ ONNX) or .tflite (TFLite, + labels.txt)")->required();
  cmd->add_option("--weights", a->weights, "per-channel or per-tensor")->capture_default_str();
  cmd->add_option("--calibration", a->calibration, "minmax, percentile or mse")->capture_default_str();
  cmd->add_option("--percentile", a->opt.percentile, "Percentile for --calibration percentile")->capture_default_str();
  cmd->add_option("--calib-count", a->opt.calib_count, "Calibration images (stratified by class, seeded)")->capture_default_str();
  cmd->add_option("--seed", a->opt.seed, "Seed for choosing the calibration images")->capture_default_str();
  cmd->add_option("--threads", a->opt.threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--skip-bad", a->skip_bad, "Skip and count unreadable calibration images instead of failing");
  cmd->add_flag("--force", a->force, "Overwrite --out if it exists");
  a->input.add(cmd, false);  // the FP32 model's input convention, written into the INT8 file
  cmd->callback([a] {
    if (fs::exists(a->out) && !a->force)
      fail("'" + a->out + "' already exists", "choose another --out, or pass --force to replace it");
    // TFLite Micro's int8 FULLY_CONNECTED takes one weight scale per layer: Dense layers per-tensor in a .tflite.
    a->opt.dense_per_tensor = tflite::int8_format_for(a->out, "--out") == tflite::Int8Format::Tflite;
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
    const auto mf = quant::load_fp32_model(a->model);
    if (fs::is_directory(fs::path(a->calib) / "train"))
      fail("'" + a->calib + "' looks like a dataset root",
           "pass its training split: --calib " + (fs::path(a->calib) / "train").string());
    data::LoadOptions lo;
    lo.set_input(mf.graph.input.h, mf.graph.input.w, mf.graph.input.c);
    lo.classes = mf.graph.classes;
    lo.threads = a->opt.threads;
    lo.skip_bad = a->skip_bad;
    const auto split = data::load_split(a->calib, lo);
    if (!split.skipped.empty()) std::printf("%zu calibration image(s) skipped as bad (--skip-bad)\n", split.skipped.size());
    a->opt.convention = a->input.convention(mf.graph.input.c);
    const auto q = quant::quantize_graph(mf.graph, split, a->opt);
    const std::string labels = tflite::write_int8_model(q, a->out,
                                                        {{"qparity.quant.fp32_model_sha256", mf.sha256},
                                                         {"qparity.quant.fp32_file_bytes", std::to_string(mf.file_bytes)},
                                                         {"qparity.arch", mf.graph.arch}},
                                                        a->force);
    const int64_t fp32_params = model::param_count(mf.graph) * 4, int8_params = q.int8_parameter_bytes();
    std::printf("quantized %s -> %s (%s weights, %s calibration on %d images)\n", a->model.c_str(), a->out.c_str(),
                a->weights.c_str(), a->calibration.c_str(),
                std::min<int>(a->opt.calib_count, static_cast<int>(split.samples.size())));
    if (a->opt.dense_per_tensor) std::printf("Dense layers per-tensor (TensorFlow Lite Micro's FULLY_CONNECTED)\n");
    if (!labels.empty()) std::printf("class names -> %s\n", labels.c_str());
    std::printf("parameters: FP32 %lld bytes -> INT8 %lld bytes (%.2fx smaller)\n", static_cast<long long>(fp32_params),
                static_cast<long long>(int8_params), static_cast<double>(fp32_params) / static_cast<double>(int8_params));
    for (const auto &l : q.layers)
      if (l.q.raised_scales > 0)  // numbered like the FP32 layers (fp32_index is the fused activation's, if any)
        std::printf(
            "note: layer %d (%s): %d near-dead channel(s) (weights ~0): weight scale raised so the bias fits int32; "
            "their weights round to ~0\n",
            l.q.fp32_index - (l.q.activation.empty() ? 0 : 1), model::op_name(l.op), l.q.raised_scales);
  });
}

eval::ResultsFile load_results(const std::string &path) {
  // The results codec: a missing key, a wrong type or an index outside the classes names the file and the key.
  return eval::read_results_file(path, json_read::Source{"results file '" + path + "'", "write it with 'qparity eval --out'"});
}

void add_compare(CLI::App &app) {
  auto pa = std::make_shared<std::string>(), pb = std::make_shared<std::string>();
  auto *cmd = app.add_subcommand("compare", "Compare two results.json (e.g. FP32 vs INT8): agreement, flipped images, McNemar");
  cmd->add_option("--a", *pa, "First results.json (e.g. FP32)")->required();
  cmd->add_option("--b", *pb, "Second results.json (e.g. INT8)")->required();
  cmd->callback([pa, pb] {
    const auto fa = load_results(*pa), fb = load_results(*pb);
    const eval::Results &a = fa.results, &b = fb.results;
    const size_t n = a.images.size();
    bool same_files = n == b.images.size(), same_labels = a.classes == b.classes;
    std::vector<std::pair<size_t, size_t>> pairs;
    for (size_t i = 0; i < n && same_files; ++i) {
      same_files = a.images[i].file == b.images[i].file;
      same_labels = same_labels && a.images[i].label == b.images[i].label;
      pairs.emplace_back(i, i);
    }
    if (!same_files)
      fail("'" + *pa + "' and '" + *pb + "' do not cover the same images in the same order",
           "evaluate both models on the same --data");
    if (!same_labels)
      fail("'" + *pa + "' and '" + *pb + "' do not have the same classes and labels",
           "evaluate both models on the same --data with the same class order");
    const eval::DecisionAgreement d = eval::decision_agreement(a.images, b.images, pairs);
    auto prec = [](const eval::Results &r) { return r.precision.empty() ? std::string("?") : r.precision; };
    std::printf("%s (%s) vs %s (%s): %zu images\n", pa->c_str(), prec(a).c_str(), pb->c_str(), prec(b).c_str(), n);
    std::printf("decision agreement %.2f%% (%lld/%zu), %zu flipped\n", 100.0 * d.agreement, static_cast<long long>(d.same), n,
                d.flipped.size());
    std::printf("right only in A: %lld, right only in B: %lld, McNemar exact p = %.4g\n", static_cast<long long>(d.only_a_right),
                static_cast<long long>(d.only_b_right), d.mcnemar_p);
    auto name = [&](int c) {
      return c >= 0 && c < static_cast<int>(a.classes.size()) ? a.classes[static_cast<size_t>(c)] : std::to_string(c);
    };
    for (size_t i : d.flipped) {
      const auto &x = a.images[i], &y = b.images[i];
      const std::string margin = y.qscores.empty() ? "" : ", B margin " + std::to_string(y.margin()) + " int8 steps";
      std::printf("  flipped %s: true %s, A %s, B %s%s\n", x.file.c_str(), name(x.label).c_str(), name(x.pred).c_str(),
                  name(y.pred).c_str(), margin.c_str());
    }
  });
}

// `qparity convert IN OUT`: an INT8 model between QDQ ONNX and TensorFlow Lite, exactly (the written file is read
// back and must hold the same integers, else it is removed and the command fails).
void add_convert(CLI::App &app) {
  struct Args {
    std::string in, out;
    bool force = false;
    InputArgs input;
  };
  auto a = std::make_shared<Args>();
  auto *cmd = app.add_subcommand("convert", "Convert a model between ONNX (.onnx) and TFLite (.tflite), exactly (INT8, or FP32)");
  cmd->add_option("in", a->in, "INT8 model (QDQ ONNX from 'qparity quantize', an int8 .tflite) or FP32 model (.onnx, "
                               "float32 .tflite)")->required();
  cmd->add_option("out", a->out, "Model to write; its extension picks the format: .onnx or .tflite (+ labels.txt)")->required();
  cmd->add_flag("--force", a->force, "Overwrite OUT (and a labels.txt with other class names) if it exists");
  a->input.add(cmd);  // a foreign model's classes and input convention, written into OUT
  cmd->callback([a] {
    const tflite::Int8Format to = tflite::int8_format_for(a->out, "OUT");
    if (!fs::exists(a->in)) fail("'" + a->in + "' does not exist", "pass an INT8 model file (.onnx or .tflite)");
    std::error_code ec;
    if (fs::equivalent(a->in, a->out, ec)) fail("IN and OUT are the same file '" + a->out + "'", "write the model elsewhere");
    if (fs::exists(a->out) && !a->force)
      fail("'" + a->out + "' already exists", "choose another OUT, or pass --force to replace it");
    if (!quant::is_int8_model(a->in)) {  // an FP32 model (ONNX or float32 .tflite): written as FP32, read back
      const model::ModelFile mf = quant::load_fp32_model(a->in);
      if (to == tflite::Int8Format::QdqOnnx && !tflite::is_tflite_file(a->in))
        fail("'" + a->in + "' is an FP32 ONNX model; convert writes an FP32 model as a float32 .tflite (or an INT8 model)",
             "name OUT .tflite, or quantize it first: qparity quantize --model " + a->in + " --calib DATA/train --out " + a->out);
      if (a->input.convention_given() || !a->input.classes.empty())
        fail("--input-range/--mean/--std/--classes describe a foreign INT8 model; '" + a->in + "' is an FP32 model",
             "drop them");
      std::map<std::string, std::string> extra;
      for (const auto &[k, v] : mf.metadata)
        if (k.rfind("qparity.", 0) == 0 && k != "qparity.classes" && k != "qparity.input" && k != "qparity.precision" &&
            k != "qparity.arch")
          extra[k] = v;
      if (to == tflite::Int8Format::Tflite)
        tflite::save_fp32_tflite(mf.graph, a->out, extra);
      else
        model::save_onnx(mf.graph, a->out, extra);
      std::string diff;
      try {
        diff = tflite::fp32_graph_difference(model::fold_for_inference(mf.graph), quant::load_fp32_model(a->out).graph);
      } catch (const Error &) {
        fs::remove(a->out, ec);
        throw;
      }
      if (!diff.empty()) {
        fs::remove(a->out, ec);
        fail("converting '" + a->in + "' to '" + a->out + "' would not be exact: " + diff,
             "keep the model in its format; please report this as a qparity bug");
      }
      std::printf("converted %s -> %s (FP32, %zu layers, identical weights)\n", a->in.c_str(), a->out.c_str(),
                  mf.graph.layers.size());
      return;
    }
    quant::QModelFile f;
    if (tflite::is_tflite_file(a->in)) {
      f = tflite::load_int8_tflite(a->in).file;
    } else if (quant::is_int8_onnx(a->in)) {
      f = quant::load_qdq_onnx(a->in);
    } else {
      model::load_onnx(a->in);  // an unreadable file fails here with the reader's message
      fail("'" + a->in + "' is an FP32 model; convert takes INT8 models",
           "quantize it first: qparity quantize --model " + a->in + " --calib DATA/train --out " + a->out);
    }
    auto ov = a->input.to_override(a->in);
    ov.classes.clear();  // below, with the QDQ rule
    quant::apply_input_override(f, ov);
    const int outputs = static_cast<int>(f.model.tensor_shape(static_cast<int>(f.model.layers.size()) - 1).size());
    if (const auto names = a->input.named_classes(a->in); !names.empty()) {
      a->input.check_class_count(a->in, names, outputs);
      f.model.classes = names;
    }
    if (f.model.classes.empty() && to == tflite::Int8Format::QdqOnnx)
      fail("'" + a->in + "' names no classes; a QDQ ONNX model needs its " + std::to_string(outputs) + " class names",
           "pass --classes with " + std::to_string(outputs) + " names in output order (or put a labels.txt beside it)");
    // The provenance travels (qparity.arch, qparity.quant.*); what the writers derive from the model does not.
    std::map<std::string, std::string> extra;
    for (const auto &[k, v] : f.metadata)
      if (k.rfind("qparity.", 0) == 0 && k != "qparity.classes" && k != "qparity.input" && k != "qparity.int8.layers" &&
          k != "qparity.precision")
        extra[k] = v;
    const std::string labels = tflite::write_int8_model(f.model, a->out, extra, a->force);
    quant::QModel back;
    try {
      back = to == tflite::Int8Format::Tflite ? tflite::load_int8_tflite(a->out).file.model : quant::load_qdq_onnx(a->out).model;
    } catch (const Error &) {
      fs::remove(a->out, ec);
      throw;
    }
    if (const std::string diff = tflite::int8_model_difference(f.model, back); !diff.empty()) {
      fs::remove(a->out, ec);
      fail("converting '" + a->in + "' to '" + a->out + "' would not be exact: " + diff,
           "keep the model in its format; please report this as a qparity bug");
    }
    std::printf("converted %s -> %s (%zu layers, identical integers)\n", a->in.c_str(), a->out.c_str(), f.model.layers.size());
    if (!labels.empty()) std::printf("class names -> %s\n", labels.c_str());
  });
}

}  // namespace

void add_quant_commands(CLI::App &app) {
  add_quantize(app);
  add_compare(app);
  add_convert(app);
}

}  // namespace qp::cli
