#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"
#include "cli/input_options.h"
#include "common/error.h"
#include "data/image_folder.h"
#include "eval/evaluate.h"
#include "model/info.h"
#include "model/onnx_io.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"
#ifdef QPARITY_HAVE_TORCH
#include "train/trainer.h"
#endif

namespace fs = std::filesystem;

namespace qp::cli {

namespace {

void add_train(CLI::App &app) {
#ifdef QPARITY_HAVE_TORCH
  auto opt = std::make_shared<train::TrainOptions>();
  auto *cmd = app.add_subcommand("train", "Train an FP32 model with libtorch and write it as ONNX");
  cmd->add_option("--data", opt->data_dir, "Dataset root holding train/ (and optionally test/)")->required();
  cmd->add_option("--out", opt->out, "Model file to write (.onnx); <stem>.train.csv and <stem>.curve.svg go beside it")
      ->required();
  cmd->add_option("--arch", opt->arch, "Preset (rps-cnn, rps-cnn-bn, rps-mobile, rps-mobilenet, rps-resnet) or a layer spec")
      ->capture_default_str();
  auto input = std::make_shared<std::string>("32x32x3");
  cmd->add_option("--input", *input, "Model input HxWxC: images are resized to HxW, C = 3 (RGB) or 1 (luma)")
      ->capture_default_str();
  cmd->add_option("--epochs", opt->epochs, "Maximum epochs")->capture_default_str();
  cmd->add_option("--batch", opt->batch, "Batch size")->capture_default_str();
  cmd->add_option("--lr", opt->lr, "Initial learning rate (cosine decay to 0)")->capture_default_str();
  cmd->add_option("--weight-decay", opt->weight_decay, "L2 weight decay")->capture_default_str();
  cmd->add_option("--val-fraction", opt->val_fraction, "Stratified validation share of train/")->capture_default_str();
  cmd->add_option("--patience", opt->patience, "Early stopping: epochs without validation improvement")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "Random seed (CPU training is deterministic for a seed)")->capture_default_str();
  cmd->add_option("--threads", opt->threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--device", opt->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_flag("--skip-bad", opt->skip_bad, "Skip and count unreadable images instead of failing");
  cmd->add_flag(
      "--no-augment", [opt](int64_t) { opt->augment = false; }, "Train without augmentation");
  cmd->add_flag("--force", opt->force, "Overwrite --out if it exists");
  cmd->callback([opt, input] {
    opt->input = model::parse_input_size(*input);
    const auto s = train::train_model(*opt);
    std::printf("trained %s at %s: best validation accuracy %.2f%% at epoch %d of %zu; %.0f images/s on %s; %.1f s\n",
                opt->arch.c_str(), model::input_size_str(opt->input).c_str(), 100 * s.best_val_acc, s.best_epoch, s.log.size(),
                s.images_per_second, s.device.c_str(), s.seconds);
    std::printf("wrote %s, %s, %s\n", opt->out.c_str(), train::train_log_path(opt->out).c_str(),
                train::train_curve_path(opt->out).c_str());
  });
#else
  auto *cmd = app.add_subcommand("train", "Train an FP32 model (this build has no libtorch)");
  cmd->allow_extras();
  cmd->callback([] {
    fail("this qparity was built without libtorch, so it cannot train", "rebuild with -DQPARITY_WITH_TORCH=ON (make build)");
  });
#endif
}

void add_eval(CLI::App &app) {
  struct Args {
    std::string model, data, out;
    int threads = 0;
    std::string backend = "optimized", isa;
    bool skip_bad = false, no_crop = false, force = false;
    InputArgs input;
  };
  auto a = std::make_shared<Args>();
  auto *cmd = app.add_subcommand("eval", "Evaluate a model on a dataset split: accuracy, confusion matrix, results.json");
  cmd->add_option("--model", a->model, "Model file (.onnx)")->required();
  cmd->add_option("--data", a->data, "Split folder with one subfolder per class (e.g. DIR/test)")->required();
  cmd->add_option("--out", a->out, "results.json to write");
  cmd->add_option("--threads", a->threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--skip-bad", a->skip_bad, "Skip and count unreadable images instead of failing");
  cmd->add_flag("--no-crop", a->no_crop, "Resize without the centre crop to square");
  cmd->add_option("--backend", a->backend, "INT8 kernels: optimized or reference (bit-identical results)")->capture_default_str();
  cmd->add_option("--isa", a->isa,
                  "Optimized kernel set: auto, portable, avx2, avx-vnni, avx512-vnni, neon, neon-dot (default: $QPARITY_ISA, else auto)");
  cmd->add_flag("--force", a->force, "Overwrite --out if it exists");
  a->input.add(cmd);
  cmd->callback([a] {
    auto report = [&](const eval::Results &r, const data::Split &split) {
      std::printf("%s on %s: %zu images%s\n", a->model.c_str(), a->data.c_str(), r.images.size(),
                  split.skipped.empty() ? "" : (" (" + std::to_string(split.skipped.size()) + " skipped as bad)").c_str());
      std::printf("%s %s\n%s\n%s", r.precision == "int8" ? "INT8" : "FP32", eval::format_accuracy(r).c_str(),
                  eval::format_ties(r).c_str(), eval::format_confusion_or_top(r.classes, eval::label_pred(r.images)).c_str());
      if (!a->out.empty()) {
        eval::write_results_json(r, a->out);
        std::printf("\nwrote %s\n", a->out.c_str());
      }
    };
    if (!a->out.empty() && fs::exists(a->out) && !a->force)
      fail("'" + a->out + "' already exists", "choose another --out, or pass --force to replace it");
    if (fs::is_directory(fs::path(a->data) / "test") || fs::is_directory(fs::path(a->data) / "train"))
      fail("'" + a->data + "' looks like a dataset root (it holds train/ or test/), not a split",
           "pass the split to evaluate, e.g. --data " + (fs::path(a->data) / "test").string());
    // Classes from --classes or labels.txt replace the model's; none: the model's, else the folders' (below).
    auto load = [&](const model::Shape &in, std::vector<std::string> &classes, int outputs) {
      if (auto named = a->input.named_classes(a->model); !named.empty()) {
        a->input.check_class_count(a->model, named, outputs);
        classes = std::move(named);
      }
      data::LoadOptions lo;
      lo.set_input(in.h, in.w, in.c);
      lo.crop_square = !a->no_crop;
      lo.skip_bad = a->skip_bad;
      lo.threads = a->threads;
      lo.classes = classes;
      return data::load_split(a->data, lo);
    };
    if (quant::is_int8_model(a->model)) {  // QDQ ONNX or .tflite, by content
      auto qf = quant::load_int8_model(a->model);
      const auto split = load(qf.model.input, qf.model.classes, static_cast<int>(qf.model.layers.back().out.c));
      if (qf.model.classes.empty()) {  // e.g. a foreign .tflite: the folder's classes, one per output
        if (static_cast<int>(split.classes.size()) != qf.model.layers.back().out.c)
          fail("'" + a->model + "' names no classes and outputs " + std::to_string(qf.model.layers.back().out.c) + " scores, but '" +
                   a->data + "' has " + std::to_string(split.classes.size()) + " class folders",
               "evaluate on a folder with one subfolder per model output, in output order (or add classes.txt)");
        qf.model.classes = split.classes;
      }
      if (a->backend != "optimized" && a->backend != "reference")
        fail("--backend must be optimized or reference (got '" + a->backend + "')");
      a->input.check_class_count(a->model, qf.model.classes, static_cast<int>(qf.model.layers.back().out.c));
      auto ov = a->input.to_override(a->model);
      ov.classes.clear();  // applied above
      quant::apply_input_override(qf, ov);  // the convention, or the default checked; qf.sha256 names both
      // --isa wins over QPARITY_ISA; either is checked (name, and that this CPU has it) even with --backend reference.
      const quant::OptIsa isa = a->isa.empty() ? quant::opt_isa_from_env() : quant::parse_opt_isa(a->isa, "--isa");
      const bool ref = a->backend == "reference";
      const std::string set = quant::opt_isa_name(quant::opt_isa_effective(isa));
      const std::string how = "optimized, kernel set " + set + (a->isa.empty() && isa == quant::OptIsa::Auto ? " (auto)" : "");
      std::printf("INT8 kernels: %s\n", ref ? "reference (C99, src/runtime)" : how.c_str());
      report(eval::evaluate_int8(qf.model, a->model, qf.sha256, split, a->threads,
                                 ref ? quant::Backend::Reference : quant::Backend::Optimized, isa),
             split);
      return;
    }
    auto mf = quant::load_fp32_model(a->model);  // ONNX or a float32 .tflite
    const auto split = load(mf.graph.input, mf.graph.classes, mf.graph.output().c);
    if (mf.graph.classes.empty()) {  // a model without qparity metadata: take the folder's classes
      if (static_cast<int>(split.classes.size()) != mf.graph.output().c)
        fail("'" + a->model + "' names no classes and outputs " + std::to_string(mf.graph.output().c) + " scores, but '" +
                 a->data + "' has " + std::to_string(split.classes.size()) + " class folders",
             "evaluate on a folder with one subfolder per model output, in output order (or add classes.txt)");
      mf.graph.classes = split.classes;
    }
    a->input.check_class_count(a->model, mf.graph.classes, mf.graph.output().c);
    a->input.apply(mf.graph);
    report(eval::evaluate_fp32(mf, split, a->threads), split);
  });
}

void add_init(CLI::App &app) {
  struct Args {
    std::string arch = "rps-cnn", classes = "rock,paper,scissors", out;
    uint64_t seed = 1;
    int size = 32;
    std::string input;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto *cmd = app.add_subcommand("init", "Write an untrained (randomly initialised) FP32 model, e.g. to try later stages");
  cmd->add_option("--arch", a->arch, "Preset (rps-cnn, rps-cnn-bn, rps-mobile, rps-mobilenet, rps-resnet) or a layer spec")
      ->capture_default_str();
  cmd->add_option("--classes", a->classes, "Comma-separated class names")->capture_default_str();
  auto *size_opt = cmd->add_option("--size", a->size, "Input side in pixels (an RGB square; see --input)")->capture_default_str();
  cmd->add_option("--input", a->input, "Model input HxWxC, e.g. 64x64x3 or 96x96x1 (instead of --size)")->excludes(size_opt);
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--out", a->out, "Model file to write (.onnx)")->required();
  cmd->add_flag("--force", a->force, "Overwrite --out if it exists");
  cmd->callback([a] {
    if (fs::exists(a->out) && !a->force)
      fail("'" + a->out + "' already exists", "choose another --out, or pass --force to replace it");
    std::vector<std::string> classes;
    std::stringstream ss(a->classes);
    for (std::string c; std::getline(ss, c, ',');)
      if (!c.empty()) classes.push_back(c);
    const model::Shape in = a->input.empty() ? model::Shape{3, a->size, a->size} : model::parse_input_size(a->input);
    auto g = model::graph_from_spec(a->arch, classes, in);
    model::init_random(g, a->seed);
    model::save_onnx(g, a->out, {{"qparity.init.seed", std::to_string(a->seed)}});
    std::printf("wrote untrained %s (%lld parameters) to %s\n", a->arch.c_str(), static_cast<long long>(model::param_count(g)),
                a->out.c_str());
  });
}

void add_info(CLI::App &app) {
  auto path = std::make_shared<std::string>();
  auto *cmd = app.add_subcommand("info", "Describe a model file: layers, parameters, MACs, size");
  cmd->add_option("model", *path, "Model file (.onnx, .tflite)")->required();
  cmd->callback([path] {
    if (quant::is_int8_model(*path)) {  // QDQ ONNX or .tflite, by content
      std::fputs(quant::describe_int8_file(*path).c_str(), stdout);
      return;
    }
    std::fputs(model::describe_model(quant::load_fp32_model(*path)).c_str(), stdout);
  });
}

}  // namespace

void add_model_commands(CLI::App &app) {
  add_train(app);
  add_eval(app);
  add_info(app);
  add_init(app);
}

}  // namespace qp::cli
