// Architecture specs: a preset name or a short text of layer tokens separated by spaces, commas or
// "->". Tokens (K = the number of classes):
//   conv3x3(16)  conv5x5s2(32)  conv3x3valid(8)   Conv2D: kernel, optional stride s<N>, padding same
//                                                 (default) or valid, filters in parentheses
//   dwconv3x3  dwconv3x3s2  dwconv3x3valid        DepthwiseConv2D (depth multiplier 1)
//   dwconv3x3m2  dwconv3x3s2m2                    DepthwiseConv2D with depth multiplier m<N> (C*N outputs)
//   bn  relu  relu6  gap  flatten  softmax
//   mean  meankeep                                Mean over H and W (flat output; meankeep: a 1x1xC map)
//   pad1                                          Pad: N zero rows/columns on every side of H and W
//   maxpool2  maxpool3s2  avgpool2                pooling, valid padding, stride defaults to the kernel
//   maxpool3s2same  avgpool3s1same                pooling with 'same' padding (TFLite's split; average over
//                                                 the in-bounds positions only)
//   dense(64)  dense(K)  dropout(0.25)
// Blocks with branches (each branch a token sequence applied to the block's input; an empty branch is
// the identity, i.e. the shortcut), nestable:
//   add{ conv3x3(16) bn relu conv3x3(16) bn | }          residual block: Add of two branches
//   add{ conv3x3s2(32) bn relu conv3x3(32) bn | conv1x1s2(32) bn }   with a projection shortcut
//   concat{ conv1x1(16) relu | conv3x3(16) relu }        Concat of two or more branches along channels
#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "model/ir.h"

namespace qp::model {
namespace {

const std::map<std::string, std::string> &presets() {
  static const std::map<std::string, std::string> p = {
      // The seed's network: 89,379 parameters, 2.87 M MACs at 32x32x3.
      {"rps-cnn",
       "conv3x3(16) relu maxpool2 conv3x3(32) relu maxpool2 conv3x3(64) relu maxpool2 "
       "flatten dropout(0.5) dense(64) relu dense(K) softmax"},
      // The same with BatchNorm after each conv (folded on export).
      {"rps-cnn-bn",
       "conv3x3(16) bn relu maxpool2 conv3x3(32) bn relu maxpool2 conv3x3(64) bn relu maxpool2 "
       "flatten dropout(0.5) dense(64) relu dense(K) softmax"},
      // A mobile-style network: depthwise-separable blocks, ReLU6, global average pooling.
      {"rps-mobile",
       "conv3x3s2(16) bn relu6 dwconv3x3 bn relu6 conv1x1(32) bn relu6 dwconv3x3s2 bn relu6 conv1x1(64) bn relu6 "
       "dwconv3x3s2 bn relu6 conv1x1(96) bn relu6 gap dense(K) softmax"},
      // MobileNetV2-style: inverted residual blocks (expand 1x1 -> depthwise 3x3 -> linear project 1x1, no
      // activation after the projection), a residual Add where the block keeps its shape (stride 1, same
      // channels), ReLU6. 24,683 parameters (22,715 after folding), 924,704 MACs at 32x32x3 (x4 at 64x64x3).
      {"rps-mobilenet",
       "conv3x3s2(16) bn relu6 "                                                   // stem: H/2
       "dwconv3x3 bn relu6 conv1x1(8) bn "                                         // expansion 1
       "conv1x1(48) bn relu6 dwconv3x3s2 bn relu6 conv1x1(16) bn "                 // expansion 6, H/4
       "add{ conv1x1(96) bn relu6 dwconv3x3 bn relu6 conv1x1(16) bn | } "          // expansion 6, residual
       "conv1x1(96) bn relu6 dwconv3x3s2 bn relu6 conv1x1(24) bn "                 // expansion 6, H/8
       "add{ conv1x1(144) bn relu6 dwconv3x3 bn relu6 conv1x1(24) bn | } "         // expansion 6, residual
       "conv1x1(96) bn relu6 gap dense(K) softmax"},
  };
  return p;
}

// Kept apart from the map above for its length: a ResNet-style network with three stages (16, 32, 64
// channels, as MLPerf Tiny's ResNet-8), an identity shortcut in the first residual block and strided
// 1x1 projection shortcuts in the other two.
const char *const kResnetSpec =
    "conv3x3(16) bn relu "
    "add{ conv3x3(16) bn relu conv3x3(16) bn | } relu "
    "add{ conv3x3s2(32) bn relu conv3x3(32) bn | conv1x1s2(32) bn } relu "
    "add{ conv3x3s2(64) bn relu conv3x3(64) bn | conv1x1s2(64) bn } relu "
    "gap dense(K) softmax";

int parse_count(const std::string &text, int classes, const std::string &token) {
  if (text == "K") return classes;
  try {
    size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size() && v > 0) return v;
  } catch (const std::exception &) {
  }
  fail("architecture token '" + token + "': '" + text + "' is not a positive count", "write e.g. dense(64) or dense(K)");
}

// One layer token (not a block).
Layer parse_layer(const std::string &tok, int k) {
  static const std::regex conv_re(R"((dw)?conv(\d+)x(\d+)(?:s(\d+))?(?:m(\d+))?(same|valid)?(?:\((\w+)\))?)");
  static const std::regex pool_re(R"((max|avg)pool(\d+)(?:s(\d+))?(same|valid)?)");
  static const std::regex pad_re(R"(pad(\d+))");
  static const std::regex dense_re(R"(dense\((\w+)\))");
  static const std::regex drop_re(R"(dropout\(([0-9.]+)\))");
  std::smatch m;
  Layer l;
  if (std::regex_match(tok, m, conv_re)) {
    const bool dw = m[1].matched;
    if (m[2] != m[3]) fail("architecture token '" + tok + "': only square kernels are supported", "write e.g. conv3x3(16)");
    l.op = dw ? Op::DepthwiseConv2D : Op::Conv2D;
    l.kernel = std::stoi(m[2]);
    l.stride = m[4].matched ? std::stoi(m[4]) : 1;
    l.padding = m[6].matched && m[6] == "valid" ? Padding::Valid : Padding::Same;
    if (dw && m[7].matched)
      fail("architecture token '" + tok + "': a depthwise conv's channel count follows from its multiplier",
           "write e.g. dwconv3x3 or dwconv3x3m2");
    if (!dw && m[5].matched) fail("architecture token '" + tok + "': only a depthwise conv has a depth multiplier");
    if (!dw && !m[7].matched) fail("architecture token '" + tok + "' needs a filter count", "write e.g. conv3x3(16)");
    if (!dw) l.units = parse_count(m[7], k, tok);
    if (dw && m[5].matched) {
      l.depth_multiplier = std::stoi(m[5]);
      if (l.depth_multiplier < 1 || l.depth_multiplier > 16)
        fail("architecture token '" + tok + "': the depth multiplier must be 1..16");
    }
    if (l.kernel < 1 || l.kernel > 11 || l.stride < 1 || l.stride > 4)
      fail("architecture token '" + tok + "': kernel must be 1..11 and stride 1..4");
  } else if (std::regex_match(tok, m, pool_re)) {
    l.op = m[1] == "max" ? Op::MaxPool : Op::AvgPool;
    l.kernel = std::stoi(m[2]);
    l.stride = m[3].matched ? std::stoi(m[3]) : l.kernel;
    l.padding = m[4].matched && m[4] == "same" ? Padding::Same : Padding::Valid;
    if (l.kernel < 1 || l.stride < 1) fail("architecture token '" + tok + "': window and stride must be positive");
  } else if (std::regex_match(tok, m, pad_re)) {
    l.op = Op::Pad;
    const int p = std::stoi(m[1]);
    if (p < 1 || p > 8) fail("architecture token '" + tok + "': padding must be 1..8");
    l.pad_top = l.pad_left = l.pad_bottom = l.pad_right = p;
  } else if (std::regex_match(tok, m, dense_re)) {
    l.op = Op::Dense;
    l.units = parse_count(m[1], k, tok);
  } else if (std::regex_match(tok, m, drop_re)) {
    l.op = Op::Dropout;
    l.rate = std::stof(m[1]);
    if (!(l.rate >= 0.f && l.rate < 1.f)) fail("architecture token '" + tok + "': the dropout rate must be in [0, 1)");
  } else if (tok == "bn") {
    l.op = Op::BatchNorm;
  } else if (tok == "relu") {
    l.op = Op::ReLU;
  } else if (tok == "relu6") {
    l.op = Op::ReLU6;
  } else if (tok == "gap") {
    l.op = Op::GlobalAvgPool;
  } else if (tok == "mean" || tok == "meankeep") {
    l.op = Op::Mean;
    l.keep_dims = tok == "meankeep";
  } else if (tok == "flatten") {
    l.op = Op::Flatten;
  } else if (tok == "softmax") {
    l.op = Op::Softmax;
  } else {
    std::string known;
    for (const auto &n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    fail("unknown architecture or layer token '" + tok + "'",
         "use a preset (" + known + ") or a spec such as 'conv3x3(16) relu maxpool2 flatten dense(K) softmax'");
  }
  return l;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto &[k, v] : presets()) names.push_back(k);
  names.push_back("rps-resnet");
  std::sort(names.begin(), names.end());
  return names;
}

std::string preset_spec(const std::string &name) {
  if (name == "rps-resnet") return kResnetSpec;
  const auto it = presets().find(name);
  return it == presets().end() ? "" : it->second;
}

namespace {

// Recursive-descent parser over the spec's tokens; appends layers to g in topological order.
class SpecParser {
 public:
  SpecParser(std::vector<std::string> toks, Graph &g, int classes) : t_(std::move(toks)), g_(g), k_(classes) {}

  void parse() {
    parse_sequence(kGraphInput);
    if (pos_ < t_.size())
      fail("architecture spec: unexpected '" + t_[pos_] + "'", "blocks are written add{ A | B } or concat{ A | B }");
  }

 private:
  // Parses layers until '|', '}' or the end; returns the producer of the sequence's output.
  int parse_sequence(int cur) {
    while (pos_ < t_.size() && t_[pos_] != "|" && t_[pos_] != "}") {
      const std::string tok = t_[pos_++];
      if (tok == "add" || tok == "concat") {
        if (pos_ >= t_.size() || t_[pos_] != "{")
          fail("architecture token '" + tok + "' must be followed by a block", "write e.g. add{ conv3x3(16) bn | }");
        ++pos_;
        if (++depth_ > 16) fail("architecture spec: blocks nested more than 16 deep");
        std::vector<int> ends;
        bool identity = false;
        for (;;) {
          const int end = parse_sequence(cur);
          if (end == cur) {
            if (identity) fail("architecture block '" + tok + "{...}' has more than one empty branch", "a block needs branches with layers");
            identity = true;
          }
          ends.push_back(end);
          if (pos_ >= t_.size()) fail("architecture block '" + tok + "{' is not closed", "end it with '}'");
          if (t_[pos_++] == "}") break;
        }
        --depth_;
        if (tok == "add" && ends.size() != 2)
          fail("architecture block 'add{...}' has " + std::to_string(ends.size()) + " branches, expected 2",
               "write add{ A | B } (an empty branch is the shortcut)");
        if (tok == "concat" && ends.size() < 2)
          fail("architecture block 'concat{...}' needs at least 2 branches", "write concat{ A | B }");
        Layer l;
        l.op = tok == "add" ? Op::Add : Op::Concat;
        l.inputs = ends;
        cur = push(std::move(l));
        continue;
      }
      if (tok == "{") fail("architecture spec: '{' must follow add or concat", "write add{ A | B } or concat{ A | B }");
      Layer l = parse_layer(tok, k_);
      l.inputs = {cur};
      cur = push(std::move(l));
    }
    return cur;
  }

  int push(Layer l) {
    g_.layers.push_back(std::move(l));
    return static_cast<int>(g_.layers.size()) - 1;
  }

  std::vector<std::string> t_;
  size_t pos_ = 0;
  int depth_ = 0;
  Graph &g_;
  int k_;
};

}  // namespace

Graph graph_from_spec(const std::string &arch_or_spec, const std::vector<std::string> &classes, Shape input) {
  if (classes.size() < 2) fail("a classifier needs at least 2 classes, got " + std::to_string(classes.size()));
  const int k = static_cast<int>(classes.size());
  Graph g;
  g.arch = arch_or_spec;
  g.input = input;
  g.classes = classes;
  std::string spec = preset_spec(arch_or_spec);
  if (spec.empty()) spec = arch_or_spec;
  std::string norm;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec.compare(i, 2, "->") == 0) {
      norm += ' ';
      ++i;
      continue;
    }
    norm += spec[i] == ',' ? ' ' : spec[i];
  }
  for (const char ch : {'{', '}', '|'}) {
    std::string spaced;
    for (const char c : norm) spaced += c == ch ? std::string(" ") + ch + " " : std::string(1, c);
    norm = spaced;
  }
  std::istringstream in(norm);
  std::vector<std::string> toks;
  for (std::string tok; in >> tok;) toks.push_back(tok);
  SpecParser(std::move(toks), g, k).parse();
  if (g.layers.empty()) fail("the architecture '" + arch_or_spec + "' has no layers");
  infer_shapes(g, /*allocate_params=*/true);
  const Shape out = g.output();
  if (!(out.h == 1 && out.w == 1 && out.c == k))
    fail("architecture '" + arch_or_spec + "' ends with shape " + shape_str(out) + ", but there are " + std::to_string(k) +
             " classes",
         "end the spec with dense(K) (K = number of classes) and optionally softmax");
  return g;
}

Shape parse_input_size(const std::string &text, const std::string &option) {
  static const std::regex re(R"((\d{1,5})x(\d{1,5})x(\d{1,2}))");
  std::smatch m;
  const std::string fix = "write HxWxC, e.g. " + option + " 64x64x3 (RGB) or " + option + " 96x96x1 (grayscale)";
  if (!std::regex_match(text, m, re)) fail(option + " '" + text + "' is not HxWxC", fix);
  const Shape s{std::stoi(m[3]), std::stoi(m[1]), std::stoi(m[2])};
  if (s.c != 1 && s.c != 3)
    fail(option + " '" + text + "': " + std::to_string(s.c) + " channels; a model input has 1 (luma) or 3 (RGB)", fix);
  if (s.h < 1 || s.w < 1 || s.h > kMaxInputSide || s.w > kMaxInputSide)
    fail(option + " '" + text + "': height and width must be 1.." + std::to_string(kMaxInputSide), fix);
  return s;
}

std::string input_size_str(const Shape &s) {
  return std::to_string(s.h) + "x" + std::to_string(s.w) + "x" + std::to_string(s.c);
}

}  // namespace qp::model
