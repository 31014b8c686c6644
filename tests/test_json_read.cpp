// Typed JSON reading (src/common/json_read): exact integer ranges (no truncation), types, missing keys,
// and messages that name the file, the key path and the fix.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>

#include "common/error.h"
#include "common/json_read.h"
#include "pipeline/pipeline.h"

using namespace qp;
namespace jr = qp::json_read;
using jr::json;

namespace {

const jr::Source kSrc{"device.json", "write it again with qparity device run", 2};

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    EXPECT_EQ(e.exit_code(), 2) << e.what();
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(JsonRead, IntegersMustFitExactly) {
  const json j = json::parse(R"({"a": 5, "b": 4294967301, "c": -3, "d": 18446744073709551615, "e": 2.0, "f": 1e300,
                                 "g": 9223372036854775807, "h": -9223372036854775808, "i": 9223372036854775808})");
  EXPECT_EQ(jr::to_int(j, "a", 0, 9, kSrc), 5);
  EXPECT_EQ(jr::to_int(j, "c", -3, 0, kSrc), -3);
  EXPECT_EQ(jr::to_int(j, "g", 0, INT64_MAX, kSrc), INT64_MAX);
  EXPECT_EQ(jr::to_int(j, "h", INT64_MIN, 0, kSrc), INT64_MIN);
  EXPECT_EQ(jr::to_uint(j, "d", UINT64_MAX, kSrc), UINT64_MAX);
  EXPECT_EQ(jr::to_uint(j, "i", UINT64_MAX, kSrc), uint64_t{1} << 63);
  // 2^32 + 5 is not 5; 2^64 - 1 is not -1; 2^63 is not INT64_MIN.
  EXPECT_EQ(error_of([&] { jr::to_int(j, "b", 0, 9, kSrc); }),
            "device.json: b is 4294967301, outside [0, 9]\n  fix: write it again with qparity device run");
  EXPECT_NE(error_of([&] { jr::to_int(j, "b", INT32_MIN, INT32_MAX, kSrc); }).find("outside"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_int(j, "d", -1, 0, kSrc); }).find("d is 18446744073709551615, outside [-1, 0]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_int(j, "i", INT64_MIN, INT64_MAX, kSrc); }).find("i is 9223372036854775808"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_int(j, "c", 0, 9, kSrc); }).find("c is -3, outside [0, 9]"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_uint(j, "c", 9, kSrc); }).find("c is -3, not a non-negative integer"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_uint(j, "a", 4, kSrc); }).find("a is 5, more than 4"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_int(j, "e", 0, 9, kSrc); }).find("e is 2.0 (a fractional number), not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_int(j, "f", 0, 9, kSrc); }).find("not an integer"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_number(json{{"f", std::numeric_limits<double>::infinity()}}, "f", kSrc); })
                .find("f is not a finite number"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(jr::to_number(j, "e", kSrc), 2.0);
}

TEST(JsonRead, MissingKeysWrongTypesAndPaths) {
  const json j = json::parse(R"({"images": [{"file": "a.png", "scores": [1, 300, 2], "sha256": "AB"}], "n": "3", "x": null})");
  const json &img = jr::array(j, "images", kSrc)[0];
  const std::string at = jr::index_path("images", 0);
  EXPECT_EQ(jr::to_string(img, "file", kSrc, at), "a.png");
  EXPECT_NE(error_of([&] { jr::to_int(img, "label", 0, 2, kSrc, at); }).find("device.json: images[0].label is missing"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jr::int8_scores(img, "scores", 3, kSrc, at); }).find("images[0].scores[1] is 300, outside [-128, 127]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jr::int8_scores(img, "scores", 2, kSrc, at); }).find("images[0].scores has 3 values, not 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jr::sha256(img, "sha256", kSrc, at); }).find("images[0].sha256 is \"AB\", not a SHA-256"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_int(j, "n", 0, 9, kSrc); }).find("n is \"3\" (string), not an integer"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::to_string(j, "x", kSrc); }).find("x is null (null), not a string"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::array(j, "n", kSrc); }).find("n is \"3\" (string), not a list"), std::string::npos);
  EXPECT_NE(error_of([&] { jr::member(json::array(), "n", kSrc); }).find("device.json: the top level is array, not an object"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jr::string_array(json{{"c", {"a", ""}}}, "c", kSrc); }).find("c[1] is an empty string"),
            std::string::npos);
  const std::string hex(64, 'A');
  EXPECT_EQ(jr::sha256(json{{"h", hex}}, "h", kSrc), std::string(64, 'a'));
  EXPECT_EQ(jr::optional_member(j, "nope", kSrc), nullptr);
}

TEST(JsonRead, ParseNamesTheFile) {
  EXPECT_NE(error_of([] { jr::parse("{\"a\": [1, 2", kSrc); }).find("device.json is not valid JSON ("), std::string::npos);
  EXPECT_NE(error_of([] { jr::parse_file("/nonexistent/x.json", kSrc); }).find("device.json cannot be read (/nonexistent/x.json"),
            std::string::npos);
  EXPECT_EQ(jr::parse("[1]", kSrc), json::array({1}));
  // nlohmann throws out_of_range (not parse_error) for a number past double: still a qp::Error here.
  EXPECT_NE(error_of([] { jr::parse("{\"n\": 1e400}", kSrc); }).find("device.json is not valid JSON (") , std::string::npos);
}

// The pipeline's own readers (per-image CSV, device log, config): a label outside the classes used to throw
// std::out_of_range from classes.at() ("internal error", exit 3); a wrapped integer was printed as another.
TEST(JsonRead, PipelineReadersNameTheFileAndKey) {
  // (conf and margin are recomputed from the int8 scores by the results codec: (5 + 128) / 256 and 5 - (-3).)
  const json good = json::parse(R"({"classes": ["rock", "paper"], "precision": "int8", "platform": "device", "images": [
      {"file": "a,b.png", "sha256": ")" + std::string(64, 'f') + R"(", "label": 1, "pred": 0, "scores": [5, -3],
       "conf": 0.51953125, "margin": 8, "cycles": 6650000, "micros": 41562}]})");
  const std::string csv = pipeline::results_csv(good, "run/device.json");
  EXPECT_NE(csv.find("\"a,b.png\"," + std::string(64, 'f') + ",paper,rock,0,0.519531,8,5 -3,6650000,41562\n"), std::string::npos)
      << csv;
  EXPECT_NE(pipeline::device_log(good, "run/device.json").find("Image 1/1 | True: paper | Pred: rock | Conf: 0.5195 | Time: 41.56ms"),
            std::string::npos);
  auto error = [&](const std::function<void(json &)> &edit, bool log) {
    json j = good;
    edit(j);
    try {
      (void)(log ? pipeline::device_log(j, "run/device.json") : pipeline::results_csv(j, "run/device.json"));
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error([](json &j) { j["images"][0]["label"] = 2; }, false).find("run/device.json: images[0].label is 2, outside [0, 1]"),
            std::string::npos);
  EXPECT_NE(error([](json &j) { j["images"][0]["pred"] = 4294967296ll; }, true).find("images[0].pred is 4294967296"),
            std::string::npos);
  EXPECT_NE(error([](json &j) { j["images"][0].erase("label"); }, true).find("images[0].label is missing"), std::string::npos);
  EXPECT_NE(error([](json &j) { j["images"][0]["micros"] = -1; }, true).find("images[0].micros is -1"), std::string::npos);
  EXPECT_NE(error([](json &j) { j.erase("classes"); }, false).find("run/device.json: classes is missing\n  fix: delete it and rerun"),
            std::string::npos);
  // Config values are text, numbers or true/false; a list or an object is named.
  EXPECT_EQ(pipeline::parse_config(R"({"epochs": 3, "synth": true, "out": "o"})", "c.json").at("epochs"), "3");
  try {
    pipeline::parse_config(R"({"subset": [1, 2]})", "c.json");
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("config file 'c.json': 'subset' is array"), std::string::npos) << e.what();
  }
}
