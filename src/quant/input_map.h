// The input convention of a model: how 8-bit pixels become the real values its input tensor expects, and
// from it and the input tensor's scale and zero point, the pixel -> int8 table the engines and the firmware use.
//
//   quant::InputConvention ic = quant::parse_input_range("0,255");      // --input-range 0,255
//   auto table = quant::input_table(ic, {1.0, -128}, 3);                  // [3][256]: table[c*256 + p] = p - 128
//   std::string words = quant::describe_input_map(ic, {1.0, -128}, 3);    // "int8 = pixel - 128"
//
// The real value of pixel p (0..255) in channel c, in float32 arithmetic, evaluated as written:
//   r = lo + (p * (hi - lo)) / 255            then, with mean/std:  r = (r - mean[c]) / std[c]
// where lo, hi, hi - lo, mean[c] and std[c] are float32 (each rounded once from the decimal given). The int8 is
// TensorFlow Lite's QUANTIZE of r: q = clamp(round_half_away_from_zero(r / float32(scale)) + zero_point, -128, 127).
// qparity's own models (range 0,1, no mean/std, scale float32(1/255), zero point -128) give exactly q = p - 128.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/ir.h"

namespace qp::quant {

using QParams = model::QParams;  // a tensor's scale and zero point

using InputConvention = model::InputConvention;  // the range and mean/std (model/ir.h)

// --input-range "0,1" | "0,255" | "-1,1" | any "lo,hi" with finite lo < hi. Throws qp::Error naming the option.
InputConvention parse_input_range(const std::string &text);
// --mean and --std: comma-separated lists of 1 or `channels` values (std > 0); either both or neither. Throws.
void set_mean_std(InputConvention &ic, const std::string &mean, const std::string &stdev);
// Checks the convention against a model's channel count (mean/std have 1 or C values). Throws qp::Error.
void check_convention(const InputConvention &ic, int channels);

// The stored form ("range=0,1" or "range=0,1;mean=0.485,0.456,0.406;std=0.229,0.224,0.225"; numbers written with
// 17 significant digits so they read back exactly) and its reader, for model metadata (QDQ ONNX
// "qparity.input.convention", TFLite "qparity.input"). parse_convention throws qp::Error naming `where`.
std::string convention_to_string(const InputConvention &ic);
InputConvention parse_convention(const std::string &text, const std::string &where);

// The float32 real value of pixel p in channel c (see the top of this file).
float input_real(const InputConvention &ic, int channel, int pixel);
// [channels][256] real values (for the FP32 executor).
std::vector<float> input_real_table(const InputConvention &ic, int channels);
// [channels][256] int8 values of the input tensor for each pixel value: TFLite's QUANTIZE of input_real.
std::vector<int8_t> input_table(const InputConvention &ic, const QParams &input, int channels);
// True when the table is q = p - 128 in every channel (what the firmware did before tables existed).
bool table_is_minus_128(const std::vector<int8_t> &table);

// The input quantization the quantizer chooses for a convention: the real range of every channel (with 0
// included), scale = float32((max - min) / 255), zero point = round(-128 - min / scale). For the default
// convention exactly QModel's default (float32(1/255), -128).
QParams input_params_for(const InputConvention &ic, int channels);

// The mapping in words for `qparity info`: "int8 = pixel - 128", or e.g.
// "int8 = round(((pixel/255)*(1 - 0) + 0 - mean[c]) / std[c] / 0.0187) - 3, clamped to [-128, 127] (mean 0.485,...)".
std::string describe_input_map(const InputConvention &ic, const QParams &input, int channels);
// The convention in words: "pixels scaled to [0,1] as p/255", "... then (x - mean[c]) / std[c], mean ..., std ...".
std::string describe_convention(const InputConvention &ic);

}  // namespace qp::quant
