// Micro-benchmarks of the host stages that do not need libtorch: rendering one synthetic sample,
// the area resize of a photo-sized image, and one FP32 inference of rps-cnn.
#include <benchmark/benchmark.h>

#include "common/rng.h"
#include "data/image_io.h"
#include "data/synth.h"
#include "model/executor_fp32.h"

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

BENCHMARK_MAIN();
