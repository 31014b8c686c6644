// Micro-benchmarks of the host stages that do not need libtorch: rendering one synthetic sample,
// the area resize of a photo-sized image, one FP32 inference and one INT8 inference of rps-cnn.
#include <benchmark/benchmark.h>

#include "common/rng.h"
#include "data/image_io.h"
#include "data/synth.h"
#include "model/executor_fp32.h"
#include "quant/qmodel.h"

using namespace qp;

static void BM_SynthRender(benchmark::State &state) {
  uint64_t s = 0;
  for (auto _ : state) benchmark::DoNotOptimize(data::synth_render(static_cast<int>(s % 3), s++));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SynthRender);

static void BM_ResizeArea_1024_to_32(benchmark::State &state) {
  data::Image img;
  img.width = img.height = 1024;
  img.channels = 3;
  img.pixels.resize(1024 * 1024 * 3);
  Rng r(1);
  for (auto &p : img.pixels) p = static_cast<uint8_t>(r.below(256));
  for (auto _ : state) benchmark::DoNotOptimize(data::resize_area(img, 32, 32));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ResizeArea_1024_to_32);

static void BM_Fp32Inference_RpsCnn(benchmark::State &state) {
  model::Graph g = model::graph_from_spec("rps-cnn", data::synth_class_names());
  model::init_random(g, 1);
  const model::Fp32Executor exec(g);
  const auto img = data::synth_render(0, 1);
  for (auto _ : state) benchmark::DoNotOptimize(exec.run_rgb(img.pixels.data()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fp32Inference_RpsCnn);

// One INT8 inference of rps-cnn (1 thread) through the reference or the optimized kernels, after
// quantizing an untrained network on 30 rendered images (weights do not change the work done).
static void BM_Int8Inference_RpsCnn(benchmark::State &state, quant::Backend backend) {
  model::Graph g = model::graph_from_spec("rps-cnn", data::synth_class_names());
  model::init_random(g, 1);
  data::Split calib;
  calib.classes = data::synth_class_names();
  for (int i = 0; i < 30; ++i) {
    const auto img = data::synth_render(i % 3, static_cast<uint64_t>(i));
    calib.samples.push_back({"", i % 3, "calib", ""});
    calib.pixels.insert(calib.pixels.end(), img.pixels.begin(), img.pixels.end());
  }
  const auto q = quant::quantize_graph(g, calib, {});
  const quant::Int8Engine engine(q, backend);
  for (auto _ : state) benchmark::DoNotOptimize(engine.run(calib.image(0)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Int8Inference_RpsCnn, reference, quant::Backend::Reference);
BENCHMARK_CAPTURE(BM_Int8Inference_RpsCnn, optimized, quant::Backend::Optimized)->ThreadRange(1, 2)->UseRealTime();

BENCHMARK_MAIN();
