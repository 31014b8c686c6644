// The memory planner (quant::plan_arena, also the firmware's plan_memory) on graphs with residual
// branches and a concatenation: tensors alive at the same time never share bytes, the arena is smaller
// than the naive sum, and a run that poisons every byte no live tensor owns before each layer gives the
// reference engine's outputs bit for bit (so no tensor is read after the planner freed it). The same
// poisoned run with one shortcut's lifetime cut short differs, so the check can fail.
#include <gtest/gtest.h>

#include <algorithm>

#include "data/image_folder.h"
#include "qp_runtime.h"
#include "data/synth.h"
#include "firmware/codegen.h"
#include "model/ir.h"
#include "quant/multiplier.h"
#include "quant/plan.h"
#include "quant/qmodel.h"
#include "test_quant_util.h"
#include "test_util.h"

using namespace qp;

namespace {

// Residual blocks (identity and strided projection shortcuts) and a three-way concat with an identity branch.
const char *const kResidualSpec =
    "conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu add{ conv3x3s2(12) relu conv3x3(12) | conv1x1s2(12) } relu "
    "concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) softmax";

quant::QModel quantized(const std::string &spec, int size) {
  test::TempDir dir;
  return test::quantized_random_model(dir, spec, size, 5);
}

// Runs m with the reference kernels over `plan`'s arena. Before each layer every byte that no tensor alive
// at that layer owns is overwritten with a pattern that changes per layer; returns every layer's output.
std::vector<std::vector<int8_t>> run_poisoned(const quant::QModel &m, const quant::ArenaPlan &plan, const uint8_t *rgb) {
  std::vector<int8_t> arena(plan.arena_bytes);
  const auto at = [&](int t) { return arena.data() + plan.tensor_offset[static_cast<size_t>(t)]; };
  const size_t T = plan.tensor_bytes.size();
  std::vector<std::vector<int8_t>> trace;
  for (size_t k = 0; k <= m.layers.size(); ++k) {
    const int step = static_cast<int>(k) - 1;  // step -1: the input is written
    std::vector<bool> live(arena.size(), false);
    for (size_t t = 0; t < T; ++t)
      if (plan.first_use[t] <= step && step <= plan.last_use[t])
        std::fill(live.begin() + plan.tensor_offset[t], live.begin() + plan.tensor_offset[t] + plan.tensor_bytes[t], true);
    for (size_t i = 0; i < arena.size(); ++i)
      if (!live[i]) arena[i] = static_cast<int8_t>(static_cast<uint8_t>(0xA5u ^ (i * 7u + k * 13u)));
    if (step < 0) {
      for (int64_t i = 0; i < m.input.size(); ++i) at(0)[i] = static_cast<int8_t>(static_cast<int>(rgb[i]) - 128);
      continue;
    }
    const quant::QLayer &l = m.layers[k - 1];
    const auto &ins = plan.layer_inputs[k - 1];
    const int8_t *a = at(ins[0]);
    int8_t *b = at(plan.layer_tensor[k - 1]);
    const qp_dims_t in = {1, l.in.h, l.in.w, l.in.c}, out = {1, l.out.h, l.out.w, l.out.c};
    qp_status_t st = QP_STATUS_OK;
    switch (l.op) {
      case model::Op::Conv2D:
      case model::Op::DepthwiseConv2D: {
        const qp_conv_params_t p = {
            -l.q.input.zero_point, l.q.output.zero_point, l.stride, l.pad_top, l.pad_left, l.q.act_min, l.q.act_max};
        const qp_dims_t f = {l.op == model::Op::Conv2D ? l.out.c : 1, l.kernel, l.kernel, l.in.c};
        const auto run = l.op == model::Op::Conv2D ? qp_conv_run_s8 : qp_dwconv_run_s8;
        st = run(&p, l.q.multiplier.data(), l.q.shift.data(), &in, a, &f, l.q.weight.data(), l.q.bias.data(), &out, b);
        break;
      }
      case model::Op::Dense:
        st = qp_fc_run_s8(-l.q.input.zero_point, l.q.output.zero_point, l.q.act_min, l.q.act_max, l.q.multiplier.data(),
                          l.q.shift.data(), l.in.c, l.out.c, a, l.q.weight.data(), l.q.bias.data(), b);
        break;
      case model::Op::MaxPool: {
        const qp_pool_params_t p = {l.kernel, l.stride, -128, 127};
        st = qp_pool_max_s8(&p, &in, a, &out, b);
        break;
      }
      case model::Op::GlobalAvgPool: st = qp_pool_global_avg_s8(-128, 127, &in, a, b); break;
      case model::Op::Softmax: st = qp_softmax_run_s8(&l.q.softmax, l.out.c, a, b); break;
      case model::Op::Add: st = qp_add_run_s8(&l.q.add, static_cast<int32_t>(l.out.size()), a, at(ins[1]), b); break;
      case model::Op::Concat: {
        std::vector<qp_concat_input_t> parts;
        for (size_t j = 0; j < ins.size(); ++j) {
          auto c = quant::concat_input_params(l.q.input_q[j].scale, l.q.input_q[j].zero_point, l.q.output.scale,
                                              l.q.output.zero_point);
          c.data = at(ins[j]);
          c.channels = m.tensor_shape(l.inputs[j]).c;
          parts.push_back(c);
        }
        st = qp_concat_run_s8(static_cast<int32_t>(parts.size()), parts.data(), l.out.h * l.out.w, l.q.output.zero_point, b);
        break;
      }
      case model::Op::Flatten: break;
      default: ADD_FAILURE() << "the test runner lacks " << model::op_name(l.op);
    }
    EXPECT_EQ(st, QP_STATUS_OK) << "layer " << k - 1;
    trace.emplace_back(b, b + l.out.size());
  }
  return trace;
}

}  // namespace

TEST(Planner, ResidualGraphSurvivesPoisonedFreedRegions) {
  const auto m = quantized(kResidualSpec, 16);
  const quant::Int8Engine ref(m, quant::Backend::Reference);
  // Both plans: the host's (no scratch) and the firmware's (the MCU kernels' scratch tensors as well).
  for (const bool firmware_plan : {false, true}) {
    const auto plan = firmware_plan ? firmware::plan_memory(m) : quant::plan_arena(m, {}, 4);
    const std::string which = firmware_plan ? "firmware plan" : "host plan";
    const size_t T = plan.tensor_bytes.size();
    // Tensors alive at the same time never share bytes; every tensor fits; the arena is below the naive sum.
    for (size_t t = 0; t < T; ++t) {
      EXPECT_LE(plan.tensor_offset[t] + plan.tensor_bytes[t], plan.arena_bytes) << which;
      for (size_t u = t + 1; u < T; ++u) {
        if (plan.first_use[t] > plan.last_use[u] || plan.first_use[u] > plan.last_use[t]) continue;
        const bool apart = plan.tensor_offset[t] + plan.tensor_bytes[t] <= plan.tensor_offset[u] ||
                           plan.tensor_offset[u] + plan.tensor_bytes[u] <= plan.tensor_offset[t];
        EXPECT_TRUE(apart) << which << ": tensors " << t << " and " << u << " overlap while both are alive";
      }
    }
    EXPECT_LT(plan.arena_bytes, plan.naive_bytes) << which;
    // Each shortcut stays alive until its Add reads it.
    int adds = 0;
    for (size_t k = 0; k < m.layers.size(); ++k) {
      if (m.layers[k].op != model::Op::Add) continue;
      ++adds;
      for (const int t : plan.layer_inputs[k]) EXPECT_GE(plan.last_use[static_cast<size_t>(t)], static_cast<int>(k)) << which;
    }
    EXPECT_EQ(adds, 2);
    for (uint64_t s = 0; s < 3; ++s) {
      const auto img = test::random_image(16, 16, 40 + s);
      std::vector<std::vector<int8_t>> want;
      ref.run(img.pixels.data(), &want);
      const auto got = run_poisoned(m, plan, img.pixels.data());
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < got.size(); ++k) ASSERT_EQ(got[k], want[k]) << which << " image " << s << " layer " << k;
    }
  }
}

TEST(Planner, PoisonedRunCatchesAShortcutFreedTooEarly) {
  const auto m = quantized(kResidualSpec, 16);
  auto plan = quant::plan_arena(m, {}, 4);
  // The first Add's shortcut (the first input of its block) declared dead right after it was written.
  size_t add = 0;
  while (m.layers[add].op != model::Op::Add) ++add;
  const int producer = *std::min_element(m.layers[add].inputs.begin(), m.layers[add].inputs.end());
  const int shortcut = producer < 0 ? 0 : plan.layer_tensor[static_cast<size_t>(producer)];
  plan.last_use[static_cast<size_t>(shortcut)] = producer + 1;
  const auto img = test::random_image(16, 16, 41);
  std::vector<std::vector<int8_t>> want;
  quant::Int8Engine(m, quant::Backend::Reference).run(img.pixels.data(), &want);
  const auto got = run_poisoned(m, plan, img.pixels.data());
  EXPECT_NE(got[add], want[add]) << "poisoning a shortcut still in use went unnoticed";
}
