// Micro-benchmarks of the host stages that do not need libtorch: rendering one synthetic sample,
// the area resize of a photo-sized image, one FP32 inference and INT8 inferences of rps-cnn (one image, a batch).
#include <benchmark/benchmark.h>

#include <fstream>

#include "common/rng.h"
#include "data/image_io.h"
#include "data/synth.h"
#include "model/executor_fp32.h"
#include "quant/engine_add.h"
#include "quant/engine_wino.h"
#include "quant/multiplier.h"
#include "qp_runtime_mcu.h"
#include "quant/qmodel.h"
#include "tflite/tflite_read.h"

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

namespace {

// rps-cnn quantized from an untrained network on 30 rendered images (weights do not change the work
// done), and those images.
struct Int8Setup {
  data::Split calib;
  quant::QModel q;
  explicit Int8Setup(const std::string &arch = "rps-cnn") {
    model::Graph g = model::graph_from_spec(arch, data::synth_class_names());
    model::init_random(g, 1);
    calib.classes = data::synth_class_names();
    for (int i = 0; i < 30; ++i) {
      const auto img = data::synth_render(i % 3, static_cast<uint64_t>(i));
      calib.samples.push_back({"", i % 3, "calib", ""});
      calib.pixels.insert(calib.pixels.end(), img.pixels.begin(), img.pixels.end());
    }
    q = quant::quantize_graph(g, calib, {});
  }
};

}  // namespace

// One INT8 inference of rps-cnn per iteration (per thread) through the reference or the optimized
// kernels (the fastest kernel set the CPU has, or the portable loops).
static void BM_Int8Inference_RpsCnn(benchmark::State &state, quant::Backend backend, quant::OptIsa isa) {
  if (!quant::opt_isa_available(isa)) return state.SkipWithError("kernel set not available on this CPU");
  const Int8Setup s;
  const quant::Int8Engine engine(s.q, backend, isa);
  for (auto _ : state) benchmark::DoNotOptimize(engine.run(s.calib.image(0)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Int8Inference_RpsCnn, reference, quant::Backend::Reference, quant::OptIsa::Auto);
BENCHMARK_CAPTURE(BM_Int8Inference_RpsCnn, optimized, quant::Backend::Optimized, quant::OptIsa::Auto)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK_CAPTURE(BM_Int8Inference_RpsCnn, optimized_avx2, quant::Backend::Optimized, quant::OptIsa::Avx2)->ThreadRange(1, 2)->UseRealTime();
// AVX-VNNI forced (256-bit vpdpbusd; skipped where the CPU lacks it).
BENCHMARK_CAPTURE(BM_Int8Inference_RpsCnn, optimized_avx_vnni, quant::Backend::Optimized, quant::OptIsa::AvxVnni)
    ->ThreadRange(1, 2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Int8Inference_RpsCnn, optimized_portable, quant::Backend::Optimized, quant::OptIsa::Portable);

// The residual and the MobileNet-style presets (issue 11: depthwise, pointwise, Add and global average
// pooling run by the optimized backend too), one inference per iteration (per thread).
static void BM_Int8Inference_Arch(benchmark::State &state, const char *arch, quant::Backend backend, quant::OptIsa isa) {
  if (!quant::opt_isa_available(isa)) return state.SkipWithError("kernel set not available on this CPU");
  const Int8Setup s(arch);
  const quant::Int8Engine engine(s.q, backend, isa);
  for (auto _ : state) benchmark::DoNotOptimize(engine.run(s.calib.image(0)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, resnet_reference, "rps-resnet", quant::Backend::Reference, quant::OptIsa::Auto);
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, resnet_optimized, "rps-resnet", quant::Backend::Optimized, quant::OptIsa::Auto)
    ->ThreadRange(1, 2)
    ->UseRealTime();
// The AVX2 kernel set forced (auto picks AVX-512 VNNI where the CPU has it): the peer of oneDNN limited to AVX2.
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, resnet_optimized_avx2, "rps-resnet", quant::Backend::Optimized, quant::OptIsa::Avx2)
    ->ThreadRange(1, 2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, resnet_optimized_avx_vnni, "rps-resnet", quant::Backend::Optimized,
                  quant::OptIsa::AvxVnni)
    ->ThreadRange(1, 2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, resnet_portable, "rps-resnet", quant::Backend::Optimized, quant::OptIsa::Portable);
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, mobile_reference, "rps-mobile", quant::Backend::Reference, quant::OptIsa::Auto);
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, mobile_optimized, "rps-mobile", quant::Backend::Optimized, quant::OptIsa::Auto)
    ->ThreadRange(1, 2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Int8Inference_Arch, mobile_portable, "rps-mobile", quant::Backend::Optimized, quant::OptIsa::Portable);

// The shared MLPerf Tiny ResNet-8 (.tflite, 12.5 M MACs; nobody here trained it), one inference of its first
// golden input tensor (int8, 32x32x3) per iteration (per thread), reference kernels or the optimized engine.
static void BM_Int8Inference_Resnet8Tflite(benchmark::State &state, quant::Backend backend) {
  const std::string dir = std::string(QP_SOURCE_DIR) + "/tests/fixtures/resnet8/";
  const auto t = tflite::load_int8_tflite(dir + "pretrainedResnet_quant.tflite");
  std::ifstream f(dir + "golden/inputs.bin", std::ios::binary);
  std::vector<int8_t> x(32 * 32 * 3);
  f.read(reinterpret_cast<char *>(x.data()), static_cast<std::streamsize>(x.size()));
  if (!f) {
    state.SkipWithError("cannot read tests/fixtures/resnet8/golden/inputs.bin");
    return;
  }
  const quant::Int8Engine engine(t.file.model, backend);
  for (auto _ : state) benchmark::DoNotOptimize(engine.run_int8(x.data()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Int8Inference_Resnet8Tflite, reference, quant::Backend::Reference);
BENCHMARK_CAPTURE(BM_Int8Inference_Resnet8Tflite, optimized, quant::Backend::Optimized)->ThreadRange(1, 2)->UseRealTime();

// The 30 images as one run_batch call per iteration (per thread); items are images.
static void BM_Int8InferenceBatch_RpsCnn(benchmark::State &state) {
  const Int8Setup s;
  const quant::Int8Engine engine(s.q, quant::Backend::Optimized);
  const size_t n = s.calib.samples.size();
  std::vector<int8_t> out(n * engine.output_size());
  for (auto _ : state) {
    engine.run_batch(s.calib.image(0), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_Int8InferenceBatch_RpsCnn)->ThreadRange(1, 2)->UseRealTime();


// One 3x3 stride-1 'same' Conv2D of C -> K channels on an HW x HW map through the AVX2 kernel set, as the
// GEMM (wino 0) or by Winograd F(2x2, 3x3) (wino 1; engine_wino.cpp): the measurements behind wino_wins.
static void BM_Conv3x3Avx2(benchmark::State &state) {
  const int c = static_cast<int>(state.range(0)), k = static_cast<int>(state.range(1)), hw = static_cast<int>(state.range(2));
  if (!quant::opt_isa_available(quant::OptIsa::Avx2)) return state.SkipWithError("no AVX2");
  quant::QLayer l;
  l.op = model::Op::Conv2D;
  l.in = {c, hw, hw};
  l.out = {k, hw, hw};
  l.kernel = 3;
  l.pad_top = l.pad_left = 1;
  l.q.input.zero_point = -3;
  l.q.output.zero_point = 5;
  Rng r(7);
  for (int i = 0; i < k * 9 * c; ++i) l.q.weight.push_back(static_cast<int8_t>(static_cast<int>(r.below(255)) - 127));
  for (int i = 0; i < k; ++i) {
    l.q.bias.push_back(static_cast<int32_t>(r.below(2001)) - 1000);
    l.q.multiplier.push_back((1 << 30) + static_cast<int32_t>(r.below(1 << 29)));
    l.q.shift.push_back(-9);
  }
  quant::OptWeights o = quant::pack_opt_weights(l);
  o.wino = false;
  if (state.range(3) != 0 && !quant::pack_wino(l, o)) return state.SkipWithError("not Winograd-exact");
  std::vector<int8_t> in(static_cast<size_t>(c) * hw * hw), out(static_cast<size_t>(k) * hw * hw);
  for (auto &v : in) v = static_cast<int8_t>(static_cast<int>(r.below(256)) - 128);
  std::vector<uint8_t> scratch(o.scratch_bytes() + 64);
  auto *sp = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) / 64 * 64);
  for (auto _ : state) {
    quant::opt_run_layer(l, o, quant::OptIsa::Avx2, in.data(), nullptr, out.data(), sp);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Conv3x3Avx2)->ArgsProduct({{3, 8, 16, 32, 64}, {8, 16, 32, 64}, {4, 8, 16, 32}, {0, 1}});

// One residual Add of 16,384 int8 values (rps-resnet's first, 16 x 32 x 32) through opt_add_s8 with a kernel
// set: portable = the MCU table kernel, avx2 / avx512-vnni = the vector forms (engine_add.cpp). Parameters as
// the quantizer makes them (quant::add_params) from typical scales.
static void BM_AddS8(benchmark::State &state, quant::OptIsa isa) {
  if (!quant::opt_isa_available(isa)) return state.SkipWithError("kernel set not available on this CPU");
  const qp_add_params_t p = quant::add_params(0.041, -7, 0.029, 3, 0.055, -12, -128, 127);
  std::vector<int32_t> table(512);
  if (qp_add_table_mcu_s8(&p, table.data()) != QP_STATUS_OK) return state.SkipWithError("parameters refused");
  constexpr int32_t n = 16 * 32 * 32;
  std::vector<int8_t> a(n), b(n), out(n);
  Rng r(3);
  for (int32_t i = 0; i < n; ++i) {
    a[static_cast<size_t>(i)] = static_cast<int8_t>(static_cast<int>(r.below(256)) - 128);
    b[static_cast<size_t>(i)] = static_cast<int8_t>(static_cast<int>(r.below(256)) - 128);
  }
  for (auto _ : state) {
    quant::opt_add_s8(p, table.data(), isa, n, a.data(), b.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK_CAPTURE(BM_AddS8, portable, quant::OptIsa::Portable);
BENCHMARK_CAPTURE(BM_AddS8, avx2, quant::OptIsa::Avx2);
BENCHMARK_CAPTURE(BM_AddS8, avx_vnni, quant::OptIsa::AvxVnni);
BENCHMARK_CAPTURE(BM_AddS8, avx512_vnni, quant::OptIsa::Avx512Vnni);

// The machine's peak for the instruction the VNNI kernel sets multiply with: 24 (zmm) or 14 (ymm) independent
// vpdpbusd chains on registers, nothing loaded, so no latency or memory limit. items_per_second = MACs per second
// (64 per zmm instruction, 32 per ymm); the kernels' MAC rate in BENCHMARKS.md is read against it. A C loop over an
// array of accumulators is no peak measure: GCC keeps such an array in memory.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f,avx512vnni"))) static void BM_VpdpbusdPeak_zmm(benchmark::State &state) {
  if (!quant::opt_isa_available(quant::OptIsa::Avx512Vnni)) return state.SkipWithError("no AVX-512 VNNI on this CPU");
  for (auto _ : state)
    for (int i = 0; i < 1000; ++i)
      __asm__ volatile(
          "vpdpbusd %%zmm30, %%zmm31, %%zmm0\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm1\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm2\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm3\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm4\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm5\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm6\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm7\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm8\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm9\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm10\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm11\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm16\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm17\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm18\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm19\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm20\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm21\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm22\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm23\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm24\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm25\n\t"
          "vpdpbusd %%zmm30, %%zmm31, %%zmm26\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm27\n\t" ::
              : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26",
                "xmm27");
  state.SetItemsProcessed(state.iterations() * 1000 * 24 * 64);
}
BENCHMARK(BM_VpdpbusdPeak_zmm);

__attribute__((target("avx2,avxvnni"))) static void BM_VpdpbusdPeak_ymm(benchmark::State &state) {
  if (!quant::opt_isa_available(quant::OptIsa::AvxVnni)) return state.SkipWithError("no AVX-VNNI on this CPU");
  for (auto _ : state)
    for (int i = 0; i < 1000; ++i)
      __asm__ volatile(
          "%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm0\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm1\n\t"
          "%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm2\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm3\n\t"
          "%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm4\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm5\n\t"
          "%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm6\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm7\n\t"
          "%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm8\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm9\n\t"
          "%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm10\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm11\n\t"
          "%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm12\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm13\n\t" ::
              : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                "xmm12", "xmm13");
  state.SetItemsProcessed(state.iterations() * 1000 * 14 * 32);
}
BENCHMARK(BM_VpdpbusdPeak_ymm);
#endif

BENCHMARK_MAIN();
