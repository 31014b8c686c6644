#include "train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/parallel.h"
#include "common/progress.h"
#include "common/rng.h"
#include "common/svg_chart.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "model/onnx_io.h"
#include "train/torch_model.h"

namespace fs = std::filesystem;

namespace qp::train {

std::string train_log_path(const std::string &model_path) {
  return (fs::path(model_path).parent_path() / (fs::path(model_path).stem().string() + ".train.csv")).string();
}
std::string train_curve_path(const std::string &model_path) {
  return (fs::path(model_path).parent_path() / (fs::path(model_path).stem().string() + ".curve.svg")).string();
}

namespace {

// [N,C,H,W] float tensor in [0,1] from the split's HWC bytes, for the given sample indices.
torch::Tensor to_tensor(const data::Split &s, const std::vector<size_t> &idx) {
  const int64_t n = static_cast<int64_t>(idx.size()), bytes_per_image = static_cast<int64_t>(s.image_bytes());
  auto bytes = torch::empty({n, s.height, s.width, s.channels}, torch::kUInt8);
  uint8_t *dst = bytes.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * bytes_per_image, s.image(idx[static_cast<size_t>(i)]), s.image_bytes());
  return bytes.permute({0, 3, 1, 2}).contiguous().to(torch::kFloat32).div_(255.0);
}

torch::Tensor labels_of(const data::Split &s, const std::vector<size_t> &idx) {
  auto t = torch::empty({static_cast<int64_t>(idx.size())}, torch::kInt64);
  for (size_t i = 0; i < idx.size(); ++i) t[static_cast<int64_t>(i)] = s.samples[idx[i]].label;
  return t;
}

// Augmentation, every random draw from `rng`: a random affine warp per image (rotation within
// +-20 degrees, scale 0.9-1.1, shift up to +-3/32 of the side (3 pixels at 32x32), horizontal mirror: a
// mirrored hand is the other hand), then brightness/contrast jitter. At 32x32 the draws and the warp are
// what they were before inputs of other sizes existed (same seed, same bytes).
torch::Tensor augment(const torch::Tensor &x, Rng &rng) {
  namespace F = torch::nn::functional;
  const int64_t n = x.size(0);
  std::vector<float> theta(static_cast<size_t>(n) * 6), gain(static_cast<size_t>(n)), bias(static_cast<size_t>(n)),
      contrast(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double a = rng.uniform(-0.35, 0.35), s = rng.uniform(0.9, 1.1), m = rng.chance(0.5) ? -1.0 : 1.0;
    // affine_grid's coordinates span [-1, 1] over each side: a shift of 3/32 of the side is 6/32 of that span.
    const double tx = rng.uniform(-3, 3) * 2.0 / 32.0, ty = rng.uniform(-3, 3) * 2.0 / 32.0;
    float *t = &theta[static_cast<size_t>(i) * 6];
    t[0] = static_cast<float>(m * std::cos(a) / s);
    t[1] = static_cast<float>(-std::sin(a) / s);
    t[2] = static_cast<float>(tx);
    t[3] = static_cast<float>(m * std::sin(a) / s);
    t[4] = static_cast<float>(std::cos(a) / s);
    t[5] = static_cast<float>(ty);
    gain[static_cast<size_t>(i)] = static_cast<float>(rng.uniform(0.75, 1.25));
    contrast[static_cast<size_t>(i)] = static_cast<float>(rng.uniform(0.75, 1.25));
    bias[static_cast<size_t>(i)] = static_cast<float>(rng.uniform(-0.08, 0.08));
  }
  auto to_dev = [&](std::vector<float> &v, std::vector<int64_t> shape) {
    return torch::from_blob(v.data(), shape).clone().to(x.device());
  };
  const auto grid = F::affine_grid(to_dev(theta, {n, 2, 3}), x.sizes().vec(), false);
  auto out = F::grid_sample(
      x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kReflection).align_corners(false));
  const auto g = to_dev(gain, {n, 1, 1, 1}), c = to_dev(contrast, {n, 1, 1, 1}), b = to_dev(bias, {n, 1, 1, 1});
  auto mean = out.mean({1, 2, 3}, true);
  return ((out - mean) * c + mean * g + b).clamp_(0.0, 1.0);
}

struct EvalStats {
  double loss = 0, acc = 0;
};

EvalStats evaluate(TorchNet &net, const torch::Tensor &x, const torch::Tensor &y, int batch) {
  torch::NoGradGuard ng;
  net->eval();
  double loss = 0;
  int64_t correct = 0;
  const int64_t n = x.size(0);
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t b = std::min<int64_t>(batch, n - i);
    auto logits = net->forward(x.narrow(0, i, b));
    auto yy = y.narrow(0, i, b);
    loss += torch::nn::functional::cross_entropy(logits, yy).item<double>() * static_cast<double>(b);
    correct += logits.argmax(1).eq(yy).sum().item<int64_t>();
  }
  return {n ? loss / static_cast<double>(n) : 0.0, n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0};
}

void write_log(const TrainSummary &s, const std::string &path) {
  std::string text = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n";
  char line[200];
  for (const auto &e : s.log) {
    std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f\n", e.epoch, e.train_loss, e.train_acc, e.val_loss,
                  e.val_acc, e.lr, e.seconds);
    text += line;
  }
  data::write_file_atomic(path, text.data(), text.size());
}

void write_curve(const TrainSummary &s, const std::string &path) {
  Series tl{"train", "#1f77b4", {}}, vl{"validation", "#d62728", {}}, ta{"train", "#1f77b4", {}}, va{"validation", "#d62728", {}};
  for (const auto &e : s.log) {
    tl.y.push_back(e.train_loss);
    vl.y.push_back(e.val_loss);
    ta.y.push_back(100 * e.train_acc);
    va.y.push_back(100 * e.val_acc);
  }
  const std::string svg =
      svg_document({svg_line_chart("loss", "epoch", {tl, vl}), svg_line_chart("accuracy (%)", "epoch", {ta, va})});
  data::write_file_atomic(path, svg.data(), svg.size());
}

}  // namespace

TrainSummary train_model(const TrainOptions &opt) {
  if (opt.out.empty()) fail("no output model path given", "pass --out model.onnx");
  if (fs::exists(opt.out) && !opt.force)
    fail("'" + opt.out + "' already exists", "choose another --out, or pass --force to replace it");
  if (!fs::path(opt.out).parent_path().empty() && !fs::is_directory(fs::path(opt.out).parent_path()))
    fail("the folder of '" + opt.out + "' does not exist", "create it first, or choose another --out");
  if (opt.epochs < 1) fail("--epochs must be at least 1");
  if (opt.batch < 1) fail("--batch must be at least 1");
  if (!(opt.val_fraction > 0 && opt.val_fraction < 0.5)) fail("--val-fraction must be in (0, 0.5)");

  data::check_train_test_classes(opt.data_dir);
  data::LoadOptions lo;
  lo.skip_bad = opt.skip_bad;
  lo.threads = opt.threads;
  if (opt.input.c != 1 && opt.input.c != 3)
    fail("the model input has " + std::to_string(opt.input.c) + " channels; training takes 1 (luma) or 3 (RGB)",
         "pass e.g. --input 64x64x3 or --input 96x96x1");
  lo.set_input(opt.input.h, opt.input.w, opt.input.c);
  const std::string train_dir = (fs::path(opt.data_dir) / "train").string();
  const data::Split split = data::load_split(train_dir, lo);
  if (!split.skipped.empty()) std::fprintf(stderr, "skipped %zu bad file(s) in %s\n", split.skipped.size(), train_dir.c_str());

  // Stratified validation split, seeded.
  Rng rng(seed_mix(opt.seed, 0x7a11, 0));
  std::vector<std::vector<size_t>> by_class(split.classes.size());
  for (size_t i = 0; i < split.samples.size(); ++i) by_class[static_cast<size_t>(split.samples[i].label)].push_back(i);
  std::vector<size_t> train_idx, val_idx;
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto &v = by_class[c];
    if (v.size() < 2)
      fail("class '" + split.classes[c] + "' has " + std::to_string(v.size()) + " training image(s)",
           "add at least 2 images per class");
    for (size_t i = v.size() - 1; i > 0; --i) std::swap(v[i], v[rng.below(static_cast<uint32_t>(i + 1))]);
    const size_t nv = std::max<size_t>(1, static_cast<size_t>(std::lround(opt.val_fraction * static_cast<double>(v.size()))));
    val_idx.insert(val_idx.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(nv));
    train_idx.insert(train_idx.end(), v.begin() + static_cast<std::ptrdiff_t>(nv), v.end());
  }

  // Device and threads.
  torch::manual_seed(opt.seed);
  const int threads = resolve_threads(opt.threads);
  torch::set_num_threads(threads);
  // CPU kernels are deterministic for a fixed thread count without libtorch's deterministic mode, which
  // costs ~40x here (measured: 127 vs 5300 images/s in PyTorch); SameSeedSameBytesOnCpu checks it.
  bool cuda = false;
  if (opt.device == "cuda" || opt.device == "auto") {
    cuda = torch::cuda::is_available();
    if (opt.device == "cuda" && !cuda)
      fail("--device cuda was asked for, but this libtorch build sees no CUDA GPU", "use --device cpu (or auto)");
  } else if (opt.device != "cpu") {
    fail("--device must be auto, cpu or cuda (got '" + opt.device + "')");
  }
  const torch::Device dev = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  TrainSummary sum;
  sum.device = cuda ? "cuda" : "cpu (" + std::to_string(threads) + " threads)";
  sum.train_images = static_cast<int>(train_idx.size());
  sum.val_images = static_cast<int>(val_idx.size());

  model::Graph graph = model::graph_from_spec(opt.arch, split.classes, {split.channels, split.height, split.width});
  TorchNet net(graph);
  net->to(dev);
  std::fprintf(stderr, "training %s at %s (%lld parameters, %lld MACs) on %s: %d train / %d validation images, %d epochs max\n",
               opt.arch.c_str(), model::input_size_str(graph.input).c_str(), static_cast<long long>(model::param_count(graph)),
               static_cast<long long>(model::mac_count(graph)), sum.device.c_str(), sum.train_images, sum.val_images, opt.epochs);

  const auto xtrain = to_tensor(split, train_idx).to(dev), ytrain = labels_of(split, train_idx).to(dev);
  const auto xval = to_tensor(split, val_idx).to(dev), yval = labels_of(split, val_idx).to(dev);
  torch::optim::Adam optim(net->parameters(), torch::optim::AdamOptions(opt.lr).weight_decay(opt.weight_decay));

  std::vector<torch::Tensor> best_state;
  auto snapshot = [&] {
    best_state.clear();
    for (const auto &p : net->parameters()) best_state.push_back(p.detach().clone());
    for (const auto &b : net->buffers()) best_state.push_back(b.detach().clone());
  };
  double best_val_loss = 1e300;
  int since_best = 0;
  const int64_t n = xtrain.size(0);
  const auto t_start = std::chrono::steady_clock::now();
  int64_t images_seen = 0;
  for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = opt.lr * 0.5 * (1.0 + std::cos(M_PI * (epoch - 1) / opt.epochs));
    for (auto &group : optim.param_groups()) static_cast<torch::optim::AdamOptions &>(group.options()).lr(lr);
    // Shuffle with our RNG.
    std::vector<int64_t> perm(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<uint32_t>(i + 1))]);
    auto order = torch::from_blob(perm.data(), {n}, torch::kInt64).clone().to(dev);
    net->train();
    double loss_sum = 0;
    int64_t correct = 0;
    char label[32];
    std::snprintf(label, sizeof label, "epoch %2d/%d", epoch, opt.epochs);
    Progress bar(label, (n + opt.batch - 1) / opt.batch);
    long step = 0;
    for (int64_t i = 0; i < n; i += opt.batch, ++step) {
      const int64_t b = std::min<int64_t>(opt.batch, n - i);
      auto idx = order.narrow(0, i, b);
      auto x = xtrain.index_select(0, idx), y = ytrain.index_select(0, idx);
      if (opt.augment) x = augment(x, rng);
      optim.zero_grad();
      auto logits = net->forward(x);
      auto loss = torch::nn::functional::cross_entropy(logits, y);
      loss.backward();
      optim.step();
      loss_sum += loss.item<double>() * static_cast<double>(b);
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      images_seen += b;
      char sfx[64];
      std::snprintf(sfx, sizeof sfx, "loss %.3f", loss_sum / static_cast<double>(i + b));
      bar.update(step + 1, sfx);
    }
    const EvalStats v = evaluate(net, xval, yval, 256);
    EpochLog e;
    e.epoch = epoch;
    e.train_loss = loss_sum / static_cast<double>(n);
    e.train_acc = static_cast<double>(correct) / static_cast<double>(n);
    e.val_loss = v.loss;
    e.val_acc = v.acc;
    e.lr = lr;
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sum.log.push_back(e);
    const bool better = v.acc > sum.best_val_acc || (v.acc == sum.best_val_acc && v.loss < best_val_loss);
    char sfx[160];
    std::snprintf(sfx, sizeof sfx, "loss %.3f acc %.1f%% | val loss %.3f acc %.1f%% | lr %.1e%s", e.train_loss, 100 * e.train_acc,
                  v.loss, 100 * v.acc, lr, better ? " *" : "");
    bar.finish(sfx);
    if (better) {
      sum.best_val_acc = v.acc;
      best_val_loss = v.loss;
      sum.best_epoch = epoch;
      since_best = 0;
      snapshot();
    } else if (++since_best >= opt.patience) {
      std::fprintf(stderr, "early stop: no validation improvement for %d epochs\n", opt.patience);
      break;
    }
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  double train_secs = 0;
  for (const auto &e : sum.log) train_secs += e.seconds;
  sum.images_per_second = train_secs > 0 ? static_cast<double>(images_seen) / train_secs : 0;

  // Restore the best checkpoint and export.
  {
    torch::NoGradGuard ng;
    size_t k = 0;
    for (auto &p : net->parameters()) p.copy_(best_state[k++]);
    for (auto &b : net->buffers()) b.copy_(best_state[k++]);
  }
  net->to(torch::kCPU);
  net->store_to(graph);
  char val[32];
  std::snprintf(val, sizeof val, "%.6f", sum.best_val_acc);
  model::save_onnx(graph, opt.out,
                   {{"qparity.train.seed", std::to_string(opt.seed)},
                    {"qparity.train.epochs", std::to_string(sum.log.size())},
                    {"qparity.train.best_epoch", std::to_string(sum.best_epoch)},
                    {"qparity.train.val_accuracy", val},
                    {"qparity.train.data", opt.data_dir}});
  write_log(sum, train_log_path(opt.out));
  write_curve(sum, train_curve_path(opt.out));
  sum.graph = std::move(graph);
  return sum;
}

}  // namespace qp::train
