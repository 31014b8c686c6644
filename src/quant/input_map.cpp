#include "quant/input_map.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "common/error.h"
#include "quant/qmodel.h"

namespace qp::quant {
namespace {

// Comma-separated finite numbers; throws naming `what`.
std::vector<double> parse_list(const std::string &text, const std::string &what, const std::string &fix) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception &) {
      used = 0;
    }
    while (used < item.size() && item[used] == ' ') ++used;
    if (item.empty() || used != item.size() || !std::isfinite(v)) fail(what + ": '" + item + "' is not a number", fix);
    out.push_back(v);
  }
  if (text.empty() || text.back() == ',') fail(what + ": '" + text + "' is not a comma-separated list of numbers", fix);
  return out;
}

std::string num(double v) {  // shortest text that reads back to the same double
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string list(const std::vector<double> &v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : ",") + num(x);
  return s;
}

float channel_value(const std::vector<double> &v, int c) {
  return static_cast<float>(v.size() == 1 ? v[0] : v[static_cast<size_t>(c)]);
}

const char *kRangeFix = "pass --input-range LO,HI with LO < HI, e.g. 0,1 (pixels / 255), 0,255 or -1,1";

}  // namespace

InputConvention parse_input_range(const std::string &text) {
  const auto v = parse_list(text, "--input-range", kRangeFix);
  if (v.size() != 2) fail("--input-range '" + text + "' must be two numbers LO,HI", kRangeFix);
  if (!(v[0] < v[1])) fail("--input-range '" + text + "': LO must be less than HI", kRangeFix);
  InputConvention ic;
  ic.lo = v[0];
  ic.hi = v[1];
  return ic;
}

void set_mean_std(InputConvention &ic, const std::string &mean, const std::string &stdev) {
  if (mean.empty() && stdev.empty()) return;
  const std::string fix = "pass both --mean and --std, each 1 value or one per channel, e.g. "
                          "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225";
  if (mean.empty() || stdev.empty()) fail(std::string(mean.empty() ? "--std" : "--mean") + " given without " +
                                          (mean.empty() ? "--mean" : "--std"), fix);
  ic.mean = parse_list(mean, "--mean", fix);
  ic.stdev = parse_list(stdev, "--std", fix);
  for (double s : ic.stdev)
    if (!(s > 0)) fail("--std '" + stdev + "': every value must be greater than 0", fix);
}

void check_convention(const InputConvention &ic, int channels) {
  if (!(std::isfinite(ic.lo) && std::isfinite(ic.hi) && ic.lo < ic.hi))
    fail("input range " + num(ic.lo) + "," + num(ic.hi) + " is not LO < HI", kRangeFix);
  if (ic.mean.size() != ic.stdev.size() && !(ic.mean.size() == 1 || ic.stdev.size() == 1))
    fail("--mean has " + std::to_string(ic.mean.size()) + " values but --std has " + std::to_string(ic.stdev.size()),
         "give each 1 value or one per channel");
  if (ic.mean.empty() != ic.stdev.empty()) fail("--mean and --std must be given together");
  for (const auto *v : {&ic.mean, &ic.stdev})
    if (!v->empty() && v->size() != 1 && static_cast<int>(v->size()) != channels)
      fail(std::string(v == &ic.mean ? "--mean" : "--std") + " has " + std::to_string(v->size()) +
               " values but the model input has " + std::to_string(channels) + " channel(s)",
           "give 1 value or " + std::to_string(channels));
  for (double s : ic.stdev)
    if (!(std::isfinite(s) && s > 0)) fail("--std value " + num(s) + " is not a number greater than 0");
  for (double m : ic.mean)
    if (!std::isfinite(m)) fail("--mean value is not a finite number");
}

std::string convention_to_string(const InputConvention &ic) {
  std::string s = "range=" + num(ic.lo) + "," + num(ic.hi);
  if (!ic.mean.empty()) s += ";mean=" + list(ic.mean) + ";std=" + list(ic.stdev);
  return s;
}

InputConvention parse_convention(const std::string &text, const std::string &where) {
  const std::string fix = "the value is 'range=LO,HI' optionally followed by ';mean=...;std=...'; re-quantize the model "
                          "or pass --input-range/--mean/--std";
  InputConvention ic;
  bool range = false;
  std::stringstream ss(text);
  std::string part;
  std::string mean, stdev;
  while (std::getline(ss, part, ';')) {
    const auto eq = part.find('=');
    const std::string key = part.substr(0, eq), value = eq == std::string::npos ? "" : part.substr(eq + 1);
    try {
      if (key == "range") {
        ic = parse_input_range(value);
        range = true;
      } else if (key == "mean") {
        mean = value;
      } else if (key == "std") {
        stdev = value;
      } else {
        fail(where + ": unknown input convention item '" + part + "'", fix);
      }
    } catch (const Error &e) {
      fail(where + ": input convention '" + text + "': " + e.what(), fix);
    }
  }
  if (!range) fail(where + ": input convention '" + text + "' has no range", fix);
  try {
    set_mean_std(ic, mean, stdev);
  } catch (const Error &e) {
    fail(where + ": input convention '" + text + "': " + e.what(), fix);
  }
  return ic;
}

float input_real(const InputConvention &ic, int channel, int pixel) {
  const float lo = static_cast<float>(ic.lo), d = static_cast<float>(ic.hi - ic.lo);
  float r = lo + (static_cast<float>(pixel) * d) / 255.0f;
  if (!ic.mean.empty()) r = (r - channel_value(ic.mean, channel)) / channel_value(ic.stdev, channel);
  return r;
}

std::vector<float> input_real_table(const InputConvention &ic, int channels) {
  check_convention(ic, channels);
  std::vector<float> t(static_cast<size_t>(channels) * 256);
  for (int c = 0; c < channels; ++c)
    for (int p = 0; p < 256; ++p) t[static_cast<size_t>(c) * 256 + static_cast<size_t>(p)] = input_real(ic, c, p);
  return t;
}

std::vector<int8_t> input_table(const InputConvention &ic, const QParams &input, int channels) {
  check_convention(ic, channels);
  const float scale = static_cast<float>(input.scale);
  if (!(std::isfinite(scale) && scale > 0)) fail("input scale " + num(input.scale) + " is not a finite number > 0");
  std::vector<int8_t> t(static_cast<size_t>(channels) * 256);
  for (int c = 0; c < channels; ++c)
    for (int p = 0; p < 256; ++p) {
      const float q = std::round(input_real(ic, c, p) / scale);  // std::round: half away from zero (TfLiteRound)
      const double v = std::clamp(static_cast<double>(q) + input.zero_point, -128.0, 127.0);
      t[static_cast<size_t>(c) * 256 + static_cast<size_t>(p)] = static_cast<int8_t>(v);
    }
  return t;
}

bool table_is_minus_128(const std::vector<int8_t> &table) {
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i] != static_cast<int>(i % 256) - 128) return false;
  return true;
}

QParams input_params_for(const InputConvention &ic, int channels) {
  if (ic.is_default()) return model::kOwnInputParams;
  check_convention(ic, channels);
  double mn = 0, mx = 0;  // 0 is always representable (TFLite's activation ranges include it)
  for (int c = 0; c < channels; ++c) {
    const double a = input_real(ic, c, 0), b = input_real(ic, c, 255);
    mn = std::min({mn, a, b});
    mx = std::max({mx, a, b});
  }
  QParams q;
  q.scale = static_cast<float>((mx - mn) / 255.0);
  if (!(q.scale > 0)) q.scale = 1.0;
  q.zero_point = static_cast<int32_t>(std::clamp(std::round(-128.0 - mn / q.scale), -128.0, 127.0));
  return q;
}

std::string describe_convention(const InputConvention &ic) {
  std::string s = ic.lo == 0 && ic.hi == 1 ? "pixels scaled to [0,1] as p/255"
                  : ic.lo == 0 && ic.hi == 255 ? "raw pixel values 0..255"
                                               : "pixels mapped linearly onto [" + num(ic.lo) + "," + num(ic.hi) + "]";
  if (!ic.mean.empty()) s += ", then (x - mean[c]) / std[c] with mean " + list(ic.mean) + ", std " + list(ic.stdev);
  return s;
}

std::string describe_input_map(const InputConvention &ic, const QParams &input, int channels) {
  const auto table = input_table(ic, input, channels);
  // A plain shift when every entry is pixel + k.
  const int k = table[0] - 0;
  bool shift = true;
  for (size_t i = 0; i < table.size(); ++i) shift = shift && table[i] == static_cast<int>(i % 256) + k;
  if (shift) return k == 0 ? "int8 = pixel" : "int8 = pixel " + std::string(k < 0 ? "- " : "+ ") + std::to_string(std::abs(k));
  char scale[32];
  std::snprintf(scale, sizeof scale, "%.6g", static_cast<double>(static_cast<float>(input.scale)));
  std::string real = ic.lo == 0 && ic.hi == 1 ? "pixel/255"
                     : ic.lo == 0 && ic.hi == 255 ? "pixel"
                                                  : num(ic.lo) + " + pixel*" + num(ic.hi - ic.lo) + "/255";
  if (!ic.mean.empty())
    real = "(" + real + " - mean[c])/std[c]";
  const std::string zp = input.zero_point == 0 ? ""
                        : (input.zero_point < 0 ? " - " : " + ") + std::to_string(std::abs(input.zero_point));
  std::string s = "int8 = clamp(round(" + real + "/" + scale + ")" + zp + ", -128, 127)";
  if (!ic.mean.empty()) s += ", mean " + list(ic.mean) + ", std " + list(ic.stdev);
  // Where the table's ends land, so a reader sees the used int8 range.
  s += "; pixel 0 -> " + std::to_string(table[0]) + ", pixel 255 -> " + std::to_string(table[255]);
  return s;
}

}  // namespace qp::quant
