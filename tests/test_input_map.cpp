// The input convention (quant/input_map.h): the pixel -> int8 table, its metadata form, the engine using it, and
// the quantizer choosing the input quantization from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "common/error.h"
#include "quant/input_map.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "test_quant_util.h"
#include "test_util.h"

using namespace qp;

namespace {

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(InputMap, QparityConventionIsPixelMinus128) {
  const quant::InputConvention ic;  // range 0,1
  EXPECT_TRUE(ic.is_default());
  for (int channels : {1, 3}) {
    const auto t = quant::input_table(ic, model::kOwnInputParams, channels);
    ASSERT_EQ(t.size(), static_cast<size_t>(channels) * 256);
    for (int c = 0; c < channels; ++c)
      for (int p = 0; p < 256; ++p) ASSERT_EQ(t[static_cast<size_t>(c) * 256 + static_cast<size_t>(p)], p - 128) << c << " " << p;
    EXPECT_TRUE(quant::table_is_minus_128(t));
  }
  EXPECT_EQ(quant::describe_input_map(ic, model::kOwnInputParams, 3), "int8 = pixel - 128");
  // The quantizer's choice for it is exactly the default input quantization.
  const auto q = quant::input_params_for(ic, 3);
  EXPECT_EQ(q.scale, model::kOwnInputParams.scale);
  EXPECT_EQ(q.zero_point, -128);
}

TEST(InputMap, Range0To255WithScale1IsPixelMinus128) {
  const auto ic = quant::parse_input_range("0,255");
  EXPECT_EQ(ic.lo, 0.0);
  EXPECT_EQ(ic.hi, 255.0);
  const auto t = quant::input_table(ic, {1.0, -128}, 3);
  EXPECT_TRUE(quant::table_is_minus_128(t));
  EXPECT_EQ(quant::describe_input_map(ic, {1.0, -128}, 3), "int8 = pixel - 128");
  const auto q = quant::input_params_for(ic, 3);
  EXPECT_EQ(q.scale, 1.0);
  EXPECT_EQ(q.zero_point, -128);
  // Range -1,1 with scale 1/128 and zero point 0: clamped at 127 on top, -128 at pixel 0.
  const auto sym = quant::input_table(quant::parse_input_range("-1,1"), {1.0 / 128, 0}, 1);
  EXPECT_EQ(sym[0], -128);
  EXPECT_EQ(sym[255], 127);
  EXPECT_NE(quant::describe_input_map(quant::parse_input_range("-1,1"), {1.0 / 128, 0}, 1).find("clamp"), std::string::npos);
}

TEST(InputMap, MeanStdMatchesAnIndependentFloatComputation) {
  quant::InputConvention ic;
  quant::set_mean_std(ic, "0.485,0.456,0.406", "0.229,0.224,0.225");
  const quant::QParams in{0.018658518, -14};  // a torchvision-like input tensor: (0 - 0.485) / 0.229 .. (1 - 0.406) / 0.225
  const auto t = quant::input_table(ic, in, 3);
  const double mean[3] = {0.485, 0.456, 0.406}, stdev[3] = {0.229, 0.224, 0.225};
  int near_double = 0;
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 256; ++p) {
      // TFLite QUANTIZE on the float32 value the user's preprocessing computes.
      const float x = (static_cast<float>(p) / 255.0f - static_cast<float>(mean[c])) / static_cast<float>(stdev[c]);
      const float r = std::round(x / static_cast<float>(in.scale));
      const int want = std::clamp(static_cast<int>(r) + in.zero_point, -128, 127);
      ASSERT_EQ(t[static_cast<size_t>(c) * 256 + static_cast<size_t>(p)], want) << "channel " << c << " pixel " << p;
      // And within one step of the exact (double) value.
      const double exact = (p / 255.0 - mean[c]) / stdev[c] / in.scale + in.zero_point;
      EXPECT_LE(std::abs(want - std::clamp(exact, -128.0, 127.0)), 1.0);
      near_double += std::abs(want - std::clamp(exact, -128.0, 127.0)) <= 0.5 ? 1 : 0;
    }
  EXPECT_GT(near_double, 700);
  // The table spans the int8 range and is monotonic per channel.
  for (int c = 0; c < 3; ++c)
    for (int p = 1; p < 256; ++p) EXPECT_GE(t[static_cast<size_t>(c) * 256 + p], t[static_cast<size_t>(c) * 256 + p - 1]);
  const std::string words = quant::describe_input_map(ic, in, 3);
  EXPECT_NE(words.find("mean[c]"), std::string::npos) << words;
  EXPECT_NE(words.find("0.485,0.456,0.406"), std::string::npos) << words;
}

TEST(InputMap, StoredFormRoundTripsExactly) {
  quant::InputConvention ic = quant::parse_input_range("-1,1");
  EXPECT_EQ(quant::parse_convention(quant::convention_to_string(ic), "f"), ic);
  quant::set_mean_std(ic, "0.1,0.2,0.30000000000000004", "0.7");
  const std::string s = quant::convention_to_string(ic);
  EXPECT_EQ(s, "range=-1,1;mean=0.1,0.2,0.30000000000000004;std=0.7");
  EXPECT_EQ(quant::parse_convention(s, "f"), ic);
  EXPECT_EQ(quant::convention_to_string(quant::InputConvention{}), "range=0,1");
  EXPECT_NE(error_of([] { quant::parse_convention("range=0,1;gamma=2", "model.tflite"); }).find("model.tflite"),
            std::string::npos);
  EXPECT_NE(error_of([] { quant::parse_convention("mean=0.5;std=0.5", "m"); }).find("has no range"), std::string::npos);
}

TEST(InputMap, BadOptionsNameTheOptionAndTheFix) {
  EXPECT_NE(error_of([] { quant::parse_input_range("1,0"); }).find("LO must be less than HI"), std::string::npos);
  EXPECT_NE(error_of([] { quant::parse_input_range("0,1,2"); }).find("two numbers"), std::string::npos);
  EXPECT_NE(error_of([] { quant::parse_input_range("zero,1"); }).find("'zero' is not a number"), std::string::npos);
  EXPECT_NE(error_of([] { quant::parse_input_range("0,inf"); }).find("--input-range"), std::string::npos);
  EXPECT_NE(error_of([] { quant::parse_input_range(""); }).find("--input-range"), std::string::npos);
  EXPECT_EQ(quant::parse_input_range("-0.5,2").lo, -0.5);
  quant::InputConvention ic;
  EXPECT_NE(error_of([&] { quant::set_mean_std(ic, "0.5", ""); }).find("--mean given without --std"), std::string::npos);
  EXPECT_NE(error_of([&] { quant::set_mean_std(ic, "0.5", "0"); }).find("greater than 0"), std::string::npos);
  quant::set_mean_std(ic, "0.5,0.5", "0.2,0.2");
  EXPECT_NE(error_of([&] { quant::input_table(ic, {0.01, 0}, 3); }).find("the model input has 3 channel(s)"), std::string::npos);
  EXPECT_NO_THROW(quant::input_table(ic, {0.01, 0}, 2));
}

TEST(InputMap, EngineRunsPixelsThroughTheTable) {
  test::TempDir t;
  quant::InputConvention ic;
  quant::set_mean_std(ic, "0.485,0.456,0.406", "0.229,0.224,0.225");
  const auto m = test::quantized_random_model(t, "rps-cnn", model::Shape{3, 32, 32}, 5, ic);
  EXPECT_EQ(m.convention, ic);
  EXPECT_FALSE(m.input_params().zero_point == -128 && m.input_params().scale == model::kOwnInputParams.scale);
  const auto table = quant::input_table(m.convention, m.input_params(), 3);
  EXPECT_FALSE(quant::table_is_minus_128(table));
  const auto img = test::random_image(32, 32, 9);
  std::vector<int8_t> x(img.pixels.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = table[(i % 3) * 256 + img.pixels[i]];
  for (const auto backend : {quant::Backend::Reference, quant::Backend::Optimized}) {
    const quant::Int8Engine engine(m, backend);
    EXPECT_EQ(engine.run(img.pixels.data()), engine.run_int8(x.data()));
  }
  // The convention travels in the QDQ file and comes back exactly (so does the pixel table).
  const std::string path = (t / "m.onnx").string();
  quant::save_qdq_onnx(m, path);
  const auto back = quant::load_qdq_onnx(path);
  EXPECT_EQ(back.model.convention, ic);
  EXPECT_EQ(back.model.input_params().scale, m.input_params().scale);
  EXPECT_EQ(back.model.input_params().zero_point, m.input_params().zero_point);
  EXPECT_EQ(quant::Int8Engine(back.model).run(img.pixels.data()), quant::Int8Engine(m).run(img.pixels.data()));
  EXPECT_NE(back.metadata.at("qparity.input.convention").find("mean=0.485"), std::string::npos);
  EXPECT_NE(quant::describe_int8_model(back).find("mean[c]"), std::string::npos);
}
