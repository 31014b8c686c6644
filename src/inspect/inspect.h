// Quantization behaviour inspection: how far each layer of an INT8 model drifts from the FP32 model
// it was quantized from, which layer's quantization costs the most decisions, and how close the
// INT8 decisions are to flipping. Everything is measured on a data split (the test set).
//
//   auto mf = qp::model::load_onnx("fp32.onnx");
//   auto qf = qp::quant::load_qdq_onnx("int8.onnx");
//   qp::inspect::check_provenance(mf, qf);                      // int8.onnx was quantized from fp32.onnx
//   auto split = qp::data::load_split("data/test", lo);
//   qp::inspect::Inspection r = qp::inspect::inspect_models(mf.graph, qf.model, split, {});
//   qp::inspect::write_inspection_json(r, "inspection.json");   // what `qparity report` renders
//   std::puts(qp::inspect::format_inspection_table(r).c_str());
//
// Definitions (all over every image of the split, every element of the layer's output):
//   calibrated range  [(-128 - zp) * s, (127 - zp) * s] of the INT8 layer's output parameters.
//   observed range    min/max of the FP32 output of the corresponding FP32 layer (Layer::q.fp32_index,
//                     i.e. after a fused ReLU/ReLU6).
//   clipped share     share of those FP32 values that the int8 clamp would change: further than half a
//                     step outside the calibrated range (values within half a step round to the end
//                     point anyway, so that is rounding, not clipping). Not for a softmax output:
//                     its top step, 127 = probability 255/256, is the probability ~1.0 itself, so a
//                     confident image above it is saturated at 1.0 (expected), not a clipped range.
//   saturated share   share of the INT8 engine's outputs at 127, and at -128 only when the zero point
//                     is above -128: when zp == -128 (ReLU outputs, pools after them, softmax), -128 is
//                     the real value 0 - the activation's floor - not a clip. For ReLU6, the ceiling
//                     act_max is the activation, so 127 is not counted when act_max == 127. For a
//                     softmax, 127 is "saturated at 1.0 (expected for softmax)": shown, never a warning.
//   SQNR (dB)         10 log10(sum fp32^2 / sum (fp32 - dequantized int8)^2), the INT8 engine's output
//                     compared with the FP32 executor's (same images, NHWC mapped to CHW); +inf when
//                     the two are identical.
//   sensitivity       for each conv/dense/add/concat layer alone, a float simulation of the whole FP32
//                     graph (along its edges) in which only that layer uses its dequantized int8 weights
//                     and int32 biases (conv/dense) and fake-quantizes (round, clamp to [-128, 127]) each
//                     input as it reads it and its (post-activation) output with the INT8 model's scales
//                     and zero points; agreement of the simulated decisions with FP32. "All layers"
//                     quantizes every such layer that way and puts the softmax output on its int8 grid
//                     (ties go to the first class, as in the engine); it should agree with FP32 about as
//                     often as the real INT8 engine does. Pools and Flatten keep their input's grid and
//                     are not simulated apart.
//   margin            INT8 top-1 minus top-2 score, in int8 steps (steps of 1/256 probability).
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "model/ir.h"
#include "model/onnx_io.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"

namespace qp::inspect {

struct InspectOptions {
  int threads = 0;   // 0 = all cores
  int closest = 10;  // images listed as closest to a flip
  // Called after each image from the worker threads, one call at a time: (images done, total).
  std::function<void(size_t, size_t)> on_progress;
};

struct LayerStats {
  int index = 0;     // in the INT8 model
  std::string name;  // the node's one label (quant::layer_label): "3 Conv2D+relu", "7 Add+relu <- 3,6"
  model::Op op = model::Op::Flatten;
  int fp32_index = -1;
  std::string activation;                // "", "relu", "relu6"
  std::string tensor;                    // its output tensor's name in the model file (Layer::q.name; empty: none)
  quant::QParams input, output;          // input: the first input's
  std::vector<int> inputs;               // producers: INT8 layer indices, -1 = the image (an Add has 2, a Concat >= 2)
  std::vector<quant::QParams> inputs_q;  // each input's scale and zero point
  bool weighted = false;                 // conv / depthwise / dense: weight fields are filled
  double weight_scale_min = 0, weight_scale_max = 0;
  std::vector<std::pair<double, double>> weight_range;  // per output channel: dequantized min, max
  double calibrated_lo = 0, calibrated_hi = 0;
  double observed_lo = 0, observed_hi = 0;
  bool count_low_saturation = true;  // whether -128 counts as saturated (see the definitions above)
  bool softmax_ceiling = false;      // a softmax output: 127 is probability ~1.0, saturation expected, no clipping
  int64_t values = 0;                // output elements compared (images x elements)
  int64_t clipped = 0, saturated = 0;
  double signal = 0, noise = 0;  // sum fp32^2, sum (fp32 - deq)^2
  double clipped_share() const { return values ? static_cast<double>(clipped) / static_cast<double>(values) : 0.0; }
  double saturated_share() const { return values ? static_cast<double>(saturated) / static_cast<double>(values) : 0.0; }
  double sqnr_db() const;
};

struct Sensitivity {
  int layer = 0;  // INT8 layer index
  std::string name;
  double agreement = 0;  // with FP32 decisions, in [0, 1]
  int flipped = 0;       // decisions that differ from FP32
};

struct MarginImage {
  std::string file;
  int label = -1, fp32_pred = -1, int8_pred = -1, margin = 0;
};

struct Inspection {
  std::string fp32_model, int8_model, data;  // paths, as given (filled by the caller)
  // False for an INT8 model inspected alone (inspect_int8): no FP32 values, so no clipped share, SQNR,
  // sensitivity or agreement; the observed range is the INT8 engine's dequantized output instead.
  bool has_fp32 = true;
  std::vector<std::string> classes;
  size_t n_images = 0;
  std::vector<LayerStats> layers;
  std::vector<Sensitivity> sensitivity;               // one per conv/dense/add/concat layer, in model order
  double simulated_all_agreement = 0;                 // all those layers simulated, vs FP32
  double int8_agreement = 0;                          // the INT8 engine vs FP32
  double simulated_all_vs_int8 = 0;                   // decisions of the all-layers simulation vs the engine
  double simulated_all_output_sqnr_db = 0;            // the engine's dequantized output vs the all-layers simulation's
  std::vector<std::pair<int, int>> margin_histogram;  // (margin, count), ascending, non-empty bins only
  std::vector<MarginImage> closest;                   // smallest INT8 margins first
  bool output_logits = false;                         // the INT8 output is logits (no final Softmax)
  std::string margin_unit;                            // eval::Int8Output::margin_unit, e.g. "int8 steps (0.04 logit units each)"
  double seconds = 0;                                 // wall time of inspect_models
};

// 10 log10(signal / noise): +inf when noise == 0 and signal > 0, NaN when both are 0.
double sqnr_db(double signal, double noise);
// Of `test` against the reference `ref` (same length).
double sqnr_db(const std::vector<float> &ref, const std::vector<float> &test);

// qp::Error unless the INT8 model records (qparity.quant.fp32_model_sha256) that it was quantized from
// this FP32 file, and their classes and input size match.
void check_provenance(const model::ModelFile &fp32, const quant::QModelFile &int8);

// Runs both models (and the sensitivity simulations) on every image of `split` (resized to the
// model input, labels indexing the model's classes). `fp32` is the graph the INT8 model was quantized
// from. Deterministic: sums are reduced in image order, whatever the thread count. qp::Error when the
// INT8 layers do not map onto the FP32 graph (different architecture).
Inspection inspect_models(const model::Graph &fp32, const quant::QModel &q, const data::Split &split,
                          const InspectOptions &opt = {});

// An INT8 model on its own (a foreign .tflite, or no FP32 model at hand): per layer the calibrated
// range, the observed range of the engine's dequantized outputs, the saturated share (same definition
// as above), weights; the decision margins. Clipping, SQNR, sensitivity and agreement need FP32 values
// and are left out (null in inspection.json). Deterministic like inspect_models.
Inspection inspect_int8(const quant::QModel &q, const data::Split &split, const InspectOptions &opt = {});

// inspection.json: {"fp32_model", "int8_model", "data", "n_images", "classes", "layers": [...] (each with
// "input" (the first input's parameters) and "inputs": [{"layer", "scale", "zero_point"}], layer -1 = the image),
// "sensitivity": [...], "simulated_all_agreement", "int8_agreement", "simulated_all_vs_int8",
// "simulated_all_output_sqnr_db", "margins": {"unit" (e.g. "int8 steps (1/256 probability each)"), "output"
// ("probabilities" | "logits"), "histogram": [{"margin", "count"}], "ties", "closest": [{"file", "label",
// "fp32_pred", "int8_pred", "margin"}]}, "seconds"}. A softmax layer has "saturation": "softmax_ceiling" (else
// "clip") and "saturation_note": "saturated at 1.0 (expected for softmax)". Labels and predictions are class
// indices into "classes". "sqnr_db" is null when the SQNR is not finite ("sqnr_exact": true says the outputs
// were identical). Without an FP32 model ("has_fp32": false): "fp32_model", "clipped_share", "sqnr_db",
// "sensitivity", the agreements and "fp32_pred" are null, and "observed_range_source" is "int8" (else "fp32").
nlohmann::ordered_json inspection_json(const Inspection &r);
void write_inspection_json(const Inspection &r, const std::string &path);

// The compact per-layer table for the terminal.
std::string format_inspection_table(const Inspection &r);

}  // namespace qp::inspect
