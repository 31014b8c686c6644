// Shared test helper: a randomly initialised model of a spec, quantized on a small built-in set.
#pragma once
#include <string>

#include "data/image_folder.h"
#include "data/synth.h"
#include "model/ir.h"
#include "quant/qmodel.h"
#include "test_util.h"

namespace qp::test {

// The spec at input shape `in` (CHW), He-uniform weights from `seed`, quantized with 12 calibration images of a
// 12-per-class built-in set written under dir, for the input convention `ic` (default: pixels / 255).
inline quant::QModel quantized_random_model(const TempDir &dir, const std::string &spec, const model::Shape &in, uint64_t seed,
                                            const quant::InputConvention &ic = {}) {
  data::SynthOptions so;
  so.out_dir = (dir / "d").string();
  so.train = 12;
  so.test = 3;
  data::synth_dataset(so);
  data::LoadOptions lo;
  lo.set_input(in.h, in.w, in.c);
  const auto split = data::load_split((dir / "d/train").string(), lo);
  auto g = model::graph_from_spec(spec, data::synth_class_names(), in);
  model::init_random(g, seed);
  quant::QuantOptions qo;
  qo.calib_count = 12;
  qo.convention = ic;
  return quant::quantize_graph(g, split, qo);
}

// The same at size x size x 3.
inline quant::QModel quantized_random_model(const TempDir &dir, const std::string &spec, int size, uint64_t seed) {
  return quantized_random_model(dir, spec, model::Shape{3, size, size}, seed);
}

}  // namespace qp::test
