// The quantized model: every integer the runtime needs, derived from an FP32 IR graph and
// calibration statistics. Activations are NHWC int8 here (the runtime's layout); Dense weights that
// follow a Flatten are permuted from the FP32 graph's CHW order to HWC order accordingly.
//
//   qp::quant::QuantOptions opt;                      // per-channel weights, min/max calibration
//   qp::quant::QModel q = qp::quant::quantize_graph(fp32_graph, calib_split, opt);
//   qp::quant::Int8Engine engine(q);
//   std::vector<int8_t> scores = engine.run(rgb);      // the last layer's int8 output: softmax probabilities,
//                                                      // conf = (s + 128) / 256, or logits (q.outputs_logits())
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "model/ir.h"
#include "qp_runtime.h"
#include "quant/engine.h"
#include "quant/input_map.h"

namespace qp::quant {

using WeightMode = model::WeightMode;
using CalibMode = model::CalibMode;
using QuantOptions = model::QuantOptions;  // how a model is quantized (model/ir.h)

using QParams = model::QParams;  // a tensor's scale and zero point (model/ir.h)

// A node of the INT8 model: the same type as the FP32 graph's node (model::Layer), its integers in `q`
// (model::Int8Node). Its in/out are the FP32 graph's CHW shapes (`in`: the first input's); pad_top/pad_left are set.
using QLayer = model::Layer;

// The INT8 model: the same type as the FP32 graph (model::Graph), its nodes with their integers (Layer::q), its tensors
// int8 with quantization once normalize has run.
using QModel = model::Graph;

// Completes an INT8 model assembled node by node (the quantizer, the file readers): fills empty `inputs` as a chain,
// every layer's q.input/q.input_q from its producers, and the tensor table (shapes, int8, each tensor's quantization;
// names kept); checks the edges (earlier layers only, input counts per op, shapes of Add/Concat inputs). Throws qp::Error.
void normalize(QModel &m);

// Quantizes an FP32 graph (BatchNorm folded, Dropout dropped) with calibration images drawn from
// `calib` (stratified by class, seeded). Throws qp::Error, e.g. when a layer's int32 accumulator
// could overflow for some input (worst case from the weights and zero points).
QModel quantize_graph(const model::Graph &fp32, const data::Split &calib, const QuantOptions &opt);

// When `prev` is a Flatten of a feature map (H or W > 1), the Dense layer after it sees its inputs in
// HWC order while the FP32/ONNX graph flattens CHW: returns true and the map's shape.
bool flattens_map(const QLayer *prev, model::Shape *map);

// Position in HWC order of element i of a CHW-flattened map of shape s.
size_t chw_to_hwc(size_t i, const model::Shape &s);

// Recomputes the derived integers (multipliers, shifts, softmax and add parameters, clamps) of a layer
// from its float32 scales, zero points and activation (input_q must be set, see quant::normalize):
// what the quantizer computes and what reading a model file rebuilds, bit for bit.
void derive_requantization(QLayer &l);

// The worst-case |accumulator| of a conv/dense output channel: |bias| + sum |w| * 255.
int64_t worst_case_accumulator(const QLayer &l, int channel);

// Which kernels run a QModel on the host. Reference: the C99 kernels of src/runtime (the numeric
// specification). Optimized: conv and dense as a blocked GEMM (AVX-512 VNNI, AVX2 or ARM64 NEON when the
// CPU has it) with vectorised requantization, max pooling vectorised, and its own kernel for every other op of the
// graph core (engine_opt_ops.cpp; Softmax calls the reference kernel itself). Both give identical bytes
// (tested on every layer of random models of every preset).
enum class Backend { Reference, Optimized };

// Which kernel set the optimized backend runs. Auto: the fastest this CPU has (AVX-512 VNNI, else
// AVX2, else portable). Portable: plain C++ loops (the blocked GEMM's rows, one dot product per
// output channel) built for the baseline ISA. Avx2: a register-blocked GEMM of exact 16-bit
// vpmaddwd products (never the saturating vpmaddubsw). Avx512Vnni: the register-blocked vpdpbusd
// GEMM. On ARM64 (Auto: NeonDot where the CPU has FEAT_DotProd, else Neon): Neon, a register-blocked GEMM of
// exact 16-bit smlal products; NeonDot, the same blocking with sdot on the int8 input. Naming one the CPU (or the
// build) lacks throws qp::Error.
enum class OptIsa { Auto, Portable, Avx2, Avx512Vnni, Neon, NeonDot, AvxVnni };
bool opt_isa_available(OptIsa isa);
const char *opt_isa_name(OptIsa isa);  // "auto", "portable", "avx2", "avx-vnni", "avx512-vnni", "neon", "neon-dot"
// The same names back (opt_isa.cpp): an unknown name or a set this CPU/build lacks throws qp::Error naming `where`
// (e.g. "--isa"), the value and the sets available here. opt_isa_from_env: QPARITY_ISA, unset or empty = Auto.
OptIsa parse_opt_isa(const std::string &name, const std::string &where);
OptIsa opt_isa_from_env();
std::string opt_isa_available_names();        // "auto, portable, avx2, ..." (those this machine has)
OptIsa opt_isa_effective(OptIsa isa);          // what Auto resolves to here; any other set is itself

// One conv/dense layer laid out for the optimized kernels (engine_opt.cpp): the input is staged into a
// zero-point-padded u8 buffer [ph][pw][icp] (u = x + 128, icp = input channels rounded up to 4); the
// weights are packed [channel tile][step][16 channels][4 bytes] with J * 16 channels per tile (the
// output channels padded to ocp with zero weights); one step is 4 bytes of one kernel position. The
// portable path reads wrow: each output channel's steps in order, [oc][steps * 4]. The AVX2 path stages
// the input as 16-bit words (same offsets) and reads w16: the weights as int16, [tile][step][pair]
// [J2 * 8 channels][2], J2 * 8 channels per tile, tiles2 tiles.
struct OptWeights {
  // What the layer runs as: Gemm (conv, dense), Depthwise (multiplier 1: staged like a conv, weights w16 as
  // [tap][icp], base the folded start value; multiplier M > 1: over the output channels, the input staged with each
  // channel repeated M times), Add (base: qp_add_table_mcu_s8's table), Concat (pack_opt_weights(model, k): soff each
  // input's channels, mult[j] 1 where input j is requantized, w [input][256] its output byte per input byte + 128),
  // None (no packed form).
  enum class Kind { None, Gemm, Depthwise, Add, Concat };
  Kind kind = Kind::None;
  int k = 1;  // Depthwise: kernel side
  bool dense = false;
  int stride = 1, oh = 1, ow = 1, oc = 0, ocp = 0, icp = 0, ph = 0, pw = 0;
  int J = 0, tiles = 0, steps = 0, J2 = 0, tiles2 = 0;
  int32_t out_zp = 0, act_min = -128, act_max = 127;
  std::vector<int8_t> w, wrow;
  std::vector<int16_t> w16;
  std::vector<int32_t> soff;  // per step: byte offset in the padded input from the window origin
  // Per padded output channel: the accumulator's start bias - (zp + 128) * sum(w), the multiplier,
  // the left and right shifts and the right shift's remainder mask.
  std::vector<int32_t> base, mult, left, right, rmask;
  // ARM64 only (empty elsewhere): wn16, the weights as int16 [16-channel group][step][byte][16 channels] (Neon);
  // base_s8, the start value for the int8 input x = u - 128 (NeonDot: bias - zp * sum(w)), per padded channel.
  std::vector<int16_t> wn16;
  std::vector<int32_t> base_s8;
  // Winograd F(2x2, 3x3) (engine_wino.cpp, AVX2 kernel set only; set by pack_opt_weights where it is exact and
  // measured faster): wu the transformed filters as int16 [channel tile][16 positions][input pair][J2 * 8][2],
  // wbias qp_conv_pack_wino_s8's bias per padded channel, wino_scratch its staging bytes.
  // Single-rounding requantization (rqf8 / rqf16, engine_avx2.h), where pack_opt_weights proves it equal to the double
  // rounding for every accumulator the layer's weights and bias allow: rqf 0 none; 1 where act_min >= out_zp (a
  // negative intermediate always clamps to act_min, so one nudge serves every sign); 2 otherwise (the nudge depends on
  // the sign: the AVX-512 set only). Per 16-channel (rqk16, rqs16) or 8-channel (rqk8, rqs8) group, even channels'
  // then odd channels' 64-bit constant and shift; rqb8 the AVX2 form's positivity offset per channel.
  int rqf = 0;
  std::vector<int64_t> rqk16, rqs16, rqk8, rqs8;
  std::vector<int32_t> rqb8;
  bool wino = false;
  std::vector<int16_t> wu;
  std::vector<int32_t> wbias;
  size_t wino_scratch = 0;
  size_t scratch_bytes() const {  // room for 16-bit staging (AVX2)
    const size_t gemm = static_cast<size_t>(ph) * pw * icp * 2;
    return gemm > wino_scratch ? gemm : wino_scratch;
  }
};

// Runs a QModel on one image (or a batch); all activations live in one arena laid out by the memory
// planner (plan.h: tensors whose lifetimes overlap never share bytes; each optimized conv/dense layer's
// padded input is a scratch tensor of the plan).
// Thread-safe: run() keeps no state between calls. As a quant::Engine (engine.h): "host reference" or
// "host optimized (<kernel set>)", every node's full output in its NodeTrace.
class Int8Engine : public Engine {
 public:
  explicit Int8Engine(const QModel &m, Backend backend = Backend::Optimized, OptIsa isa = OptIsa::Auto);
  // rgb: H*W*C pixel bytes, HWC, mapped through the model's input table (InputConvention). Returns the last
  // layer's int8 output; with `trace`, every layer's output.
  std::vector<int8_t> run(const uint8_t *rgb, std::vector<std::vector<int8_t>> *trace = nullptr) const;
  // The same from the int8 input tensor itself (input.size() bytes, HWC), e.g. a TFLite model's own input tensor.
  std::vector<int8_t> run_int8(const int8_t *x, std::vector<std::vector<int8_t>> *trace = nullptr) const;
  // n images of H*W*C bytes each, back to back; writes n * output_size() int8 scores to `out`. The
  // same bytes as run() on each image, with one arena for the whole batch.
  void run_batch(const uint8_t *rgb, size_t n, int8_t *out) const;
  size_t output_size() const override;
  size_t arena_bytes() const { return arena_; }
  // quant::Engine (engine.cpp): the same runs, the input's size checked.
  std::string name() const override;
  std::vector<int8_t> infer(const EngineInput &in) override;
  NodeTrace trace(const EngineInput &in) override;
  std::vector<int8_t> node_output(const EngineInput &in, int node) override;

  Backend backend() const { return backend_; }
  // Whether run() without a trace runs layer k (a conv) and k + 1 (its MaxPool) as one (opt_fuses_maxpool).
  bool fuses_maxpool(size_t k) const { return k < fuse_.size() && fuse_[k] != 0; }

 private:
  void run_into(const uint8_t *rgb, int8_t *arena, std::vector<std::vector<int8_t>> *trace, int8_t **result) const;
  const QModel &m_;
  Backend backend_;
  OptIsa isa_;
  size_t arena_ = 0;
  std::vector<size_t> out_off_;                // per layer: its output's offset in the arena
  std::vector<std::vector<size_t>> in_off_;    // per layer: each input's offset
  std::vector<size_t> scratch_off_;            // per layer: its scratch (optimized conv/dense)
  size_t input_off_ = 0;
  std::vector<int8_t> table_;  // [C][256] pixel -> int8 input (input_table of the model's convention and input_params)
  bool input_flip_ = false;    // table_ is p - 128 on every channel (qparity's own models)
  std::vector<OptWeights> opt_;  // per layer (empty for layers without weights)
  std::vector<uint8_t> fuse_;           // per layer: 1 where it runs fused with its MaxPool reader (without a trace)
};

OptWeights pack_opt_weights(const QLayer &l);

// The optimized kernels. opt_conv_s8 runs a Conv2D or Dense layer; `scratch` holds o.scratch_bytes().
void opt_conv_s8(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *in, int8_t *out, uint8_t *scratch);
void opt_maxpool_s8(const QLayer &l, OptIsa isa, const int8_t *in, int8_t *out);
// Runs layer l with its optimized kernel (conv, dense, depthwise, Add, Concat of two inputs, max, average and global
// average pooling, Pad, Mean, Softmax) and returns true; false: run the reference (Flatten, which needs no work, a
// layer whose packing or parameters the kernels refuse). in2: the second input (Add, Concat); scratch:
// o.scratch_bytes(), 64-byte aligned.
bool opt_run_layer(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *in, const int8_t *in2, int8_t *out,
                   uint8_t *scratch);

// engine_opt_ops.cpp. pack_opt_weights(m, k): layer k packed as the engine runs it (a Concat needs its inputs'
// channel counts from the model). opt_run_layer_n: opt_run_layer over all n_in inputs of the layer (ins[j] input j;
// Concat reads every one). opt_takes_layer: whether opt_run_layer(_n) runs the layer itself (true for Flatten, which
// needs no work) rather than leaving it to the reference kernel; opt_layer_coverage: that, per layer of m.
OptWeights pack_opt_weights(const QModel &m, size_t k);
// Max pooling fused before requantization (engine_opt.cpp): opt_fuses_maxpool, whether conv layer k and the MaxPool
// k + 1 can run as one (AVX2 or AVX-512 VNNI kernel set, unpadded pool the conv's only reader, requantization
// monotone: multipliers >= 0, no wrapping left shift); opt_conv_maxpool_s8 then writes the pooled tensor to `out` (the
// conv's output never exists), scratch: opt_fuse_scratch_bytes(o, isa) (it depends on the kernel set), 64-byte
// aligned. Byte-identical to the two layers run in turn.
bool opt_fuses_maxpool(const QModel &m, size_t k, const OptWeights &o, OptIsa isa);
// Whether opt_conv_s8 runs conv layer l on the AVX-512 VNNI set transposed (16 output pixels per vector, one accumulator
// per output channel: exactly 16 output channels, stride 1, output rows of >= 16 pixels, an input of 1 to 4 or of 16
// channels; engine_opt.cpp, gemm_t16). Always false for another kernel set or a build without it.
bool opt_conv_transposed16(const QLayer &l, const OptWeights &o, OptIsa isa);
size_t opt_fuse_scratch_bytes(const OptWeights &o, OptIsa isa);
void opt_conv_maxpool_s8(const QLayer &l, const OptWeights &o, OptIsa isa, const QLayer &pool, const int8_t *in,
                         int8_t *out, uint8_t *scratch);
bool opt_run_layer_n(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *const *ins, size_t n_in, int8_t *out,
                     uint8_t *scratch);
bool opt_takes_layer(const QLayer &l, const OptWeights &o);
std::vector<bool> opt_layer_coverage(const QModel &m);

}  // namespace qp::quant
