#include "model/info.h"

#include <cstdio>
#include <cstring>

namespace qp::model {

namespace {
std::string layer_detail(const Layer &l) {
  char buf[96] = "";
  switch (l.op) {
    case Op::Conv2D:
    case Op::DepthwiseConv2D:
      std::snprintf(buf, sizeof buf, "%dx%d s%d %s", l.kernel, l.kernel, l.stride, l.padding == Padding::Same ? "same" : "valid");
      if (l.op == Op::DepthwiseConv2D && l.depth_multiplier != 1)
        std::snprintf(buf + std::strlen(buf), sizeof buf - std::strlen(buf), " x%d", l.depth_multiplier);
      break;
    case Op::MaxPool:
    case Op::AvgPool:
      std::snprintf(buf, sizeof buf, "%dx%d s%d%s", l.kernel, l.kernel, l.stride, l.padding == Padding::Same ? " same" : "");
      break;
    case Op::Pad:
      std::snprintf(buf, sizeof buf, "t%d l%d b%d r%d", l.pad_top, l.pad_left, l.pad_bottom, l.pad_right);
      break;
    case Op::Mean: std::snprintf(buf, sizeof buf, "H,W%s", l.keep_dims ? " keep" : ""); break;
    case Op::Softmax:
      if (l.softmax_beta != 1.f) std::snprintf(buf, sizeof buf, "beta %g", static_cast<double>(l.softmax_beta));
      break;
    default: break;
  }
  return buf;
}

std::string thousands(long long v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (s[0] == '-' ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}
}  // namespace

std::string describe_model(const ModelFile &m) {
  const Graph &g = m.graph;
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "model     %s\narch      %s\nproducer  %s (opset %d)\ninput     float32 [N,%d,%d,%d] (p/255)\n", m.path.c_str(),
                g.arch.c_str(), m.producer.empty() ? "?" : m.producer.c_str(), m.opset, g.input.c, g.input.h, g.input.w);
  out += line;
  std::string classes;
  for (const auto &c : g.classes) classes += (classes.empty() ? "" : ", ") + c;
  out += "classes   " + (classes.empty() ? std::string("(not recorded in the file)") : classes) + "\n\n";
  // A graph with branches (Add/Concat) also lists each layer's inputs: "<- 3, 7" (layer numbers, or "input").
  const bool dag = !is_chain(g);
  std::snprintf(line, sizeof line, "  #  %-16s %-14s %-14s %10s %12s%s\n", "layer", "detail", "output", "params", "MACs",
                dag ? "  inputs" : "");
  out += line;
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const Layer &l = g.layers[i];
    std::string inputs;
    if (dag) {
      for (const int p : l.inputs)
        inputs += (inputs.empty() ? "  <- " : ", ") + (p == kGraphInput ? std::string("input") : std::to_string(p));
    }
    std::snprintf(line, sizeof line, "%3zu  %-16s %-14s %-14s %10s %12s%s%s\n", i, op_name(l.op), layer_detail(l).c_str(),
                  shape_str(l.out).c_str(), thousands(param_count(l)).c_str(), thousands(mac_count(l)).c_str(), inputs.c_str(),
                  tensor_name_column(g.tensor_name(static_cast<int>(i))).c_str());  // the file's name for its output
    out += line;
  }
  const long long params = param_count(g);
  std::snprintf(line, sizeof line,
                "\nparameters  %s (%s bytes as FP32)\nMACs        %s per inference (%.2f M)\nfile        %s bytes, sha256 %s\n",
                thousands(params).c_str(), thousands(params * 4).c_str(), thousands(mac_count(g)).c_str(),
                static_cast<double>(mac_count(g)) / 1e6, thousands(m.file_bytes).c_str(), m.sha256.c_str());
  out += line;
  return out;
}

}  // namespace qp::model
