// Structure-aware mutation for the ONNX harnesses (fuzz_onnx, fuzz_qdq). Byte-level mutation of a protobuf
// almost always breaks its framing, so shape and count bugs (a weight whose dims disagree with an attribute,
// element counts that overflow, a weight computed by a node, layers that do not chain) stay out of reach.
// LLVMFuzzerCustomMutator instead parses the input as onnx::ModelProto, changes one structural thing and
// serialises it again; input that does not parse falls back to libFuzzer's byte mutation. Deterministic for
// a given seed, as libFuzzer requires.
#pragma once
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "model/onnx_proto.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

namespace qp::fuzz {

class OnnxMutator {
 public:
  explicit OnnxMutator(unsigned seed) : rng_(seed) {}

  // One structural change to `m`; false when nothing applicable was found.
  bool mutate(onnx::ModelProto &m) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      switch (pick(11)) {
        case 0: if (initializer_dim(m)) return true; break;
        case 1: if (value_info_dim(m)) return true; break;
        case 2: if (attribute(m)) return true; break;
        case 3: if (initializer_data(m)) return true; break;
        case 4: if (rewire(m)) return true; break;
        case 5: if (delete_node(m)) return true; break;
        case 6: if (op_type(m)) return true; break;
        case 7: if (qdq_param(m)) return true; break;
        case 8: if (metadata_number(m)) return true; break;
        case 9: if (initializer_list(m)) return true; break;
        case 10: if (data_type(m)) return true; break;
      }
    }
    return false;
  }

 private:
  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool coin() { return pick(2) == 0; }

  // Values that find size and count bugs: 0, 1, off by one, negative, past int32, products that wrap int64.
  int64_t interesting_int(int64_t old) {
    static const int64_t v[] = {0, 1, 2, 3, 5, 7, -1, -2, 127, 128, 255, 256, 65535, 65536, INT32_MAX,
                                int64_t(INT32_MAX) + 1, int64_t(1) << 32, int64_t(1) << 40, int64_t(1) << 62,
                                INT64_MAX, INT64_MIN};
    switch (pick(4)) {
      // Unsigned arithmetic: wrapping is the point, and it must not be undefined behaviour in the harness.
      case 0: return static_cast<int64_t>(static_cast<uint64_t>(old) + 1);
      case 1: return static_cast<int64_t>(static_cast<uint64_t>(old) - 1);
      case 2: return static_cast<int64_t>(static_cast<uint64_t>(old) * 2);
      default: return v[pick(sizeof v / sizeof v[0])];
    }
  }
  // One element of a tensor's raw bytes set to an interesting value: a float32 when the tensor is
  // FLOAT and holds one, else one byte.
  void mutate_one_element(std::string &raw, int32_t data_type) {
    if (data_type == onnx::TensorProto::FLOAT && raw.size() >= 4) {
      const size_t i = pick(raw.size() / 4) * 4;
      float f;
      std::memcpy(&f, raw.data() + i, 4);
      f = interesting_float(f);
      std::memcpy(raw.data() + i, &f, 4);
    } else if (!raw.empty()) {
      raw[pick(raw.size())] = static_cast<char>(interesting_int(0));
    }
  }

  float interesting_float(float old) {
    static const float v[] = {0.f, -0.f, 1.f, -1.f, 1e-38f, 1e-45f, 1e38f, 3.4e38f, 0.5f, 1.f / 255.f,
                              std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN()};
    return pick(3) == 0 ? old * (coin() ? 2.f : 0.5f) : v[pick(sizeof v / sizeof v[0])];
  }

  // Every tensor name a node input could refer to.
  std::vector<std::string> tensor_names(const onnx::ModelProto &m) {
    std::vector<std::string> names{""};
    const auto &g = m.graph();
    for (const auto &t : g.initializer()) names.push_back(t.name());
    for (const auto &v : g.input()) names.push_back(v.name());
    for (const auto &n : g.node())
      for (const auto &o : n.output()) names.push_back(o);
    return names;
  }

  bool initializer_dim(onnx::ModelProto &m) {
    auto *g = m.mutable_graph();
    if (g->initializer_size() == 0) return false;
    auto *t = g->mutable_initializer(static_cast<int>(pick(g->initializer_size())));
    const int k = t->dims_size();
    switch (pick(4)) {
      case 0: t->clear_dims(); return true;                      // no dims at all
      case 1: t->add_dims(interesting_int(1)); return true;      // one more
      case 2: if (k) t->mutable_dims()->RemoveLast(); return k > 0;
      default:
        if (!k) return false;
        const int i = static_cast<int>(pick(k));
        t->set_dims(i, interesting_int(t->dims(i)));
        return true;
    }
  }

  bool value_info_dim(onnx::ModelProto &m) {
    auto *g = m.mutable_graph();
    std::vector<onnx::ValueInfoProto *> vis;
    for (auto &v : *g->mutable_input()) vis.push_back(&v);
    for (auto &v : *g->mutable_output()) vis.push_back(&v);
    for (auto &v : *g->mutable_value_info()) vis.push_back(&v);
    if (vis.empty()) return false;
    auto *v = vis[pick(vis.size())];
    if (!v->type().has_tensor_type()) return false;
    auto *shape = v->mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() == 0 || pick(5) == 0) {
      shape->add_dim()->set_dim_value(interesting_int(1));
      return true;
    }
    auto *d = shape->mutable_dim(static_cast<int>(pick(shape->dim_size())));
    switch (pick(3)) {
      case 0: d->set_dim_param("N"); break;
      case 1: shape->mutable_dim()->RemoveLast(); break;
      default: d->set_dim_value(interesting_int(d->has_dim_value() ? d->dim_value() : 1));
    }
    return true;
  }

  bool attribute(onnx::ModelProto &m) {
    auto *g = m.mutable_graph();
    std::vector<onnx::AttributeProto *> attrs;
    for (auto &n : *g->mutable_node())
      for (auto &a : *n.mutable_attribute()) attrs.push_back(&a);
    if (attrs.empty()) return false;
    auto *a = attrs[pick(attrs.size())];
    switch (a->type()) {
      case onnx::AttributeProto::INT: a->set_i(interesting_int(a->i())); return true;
      case onnx::AttributeProto::FLOAT: a->set_f(interesting_float(a->f())); return true;
      case onnx::AttributeProto::INTS:
        if (a->ints_size() == 0 || pick(4) == 0) {
          a->add_ints(interesting_int(1));
        } else if (pick(4) == 0) {
          a->mutable_ints()->RemoveLast();
        } else {
          const int i = static_cast<int>(pick(a->ints_size()));
          a->set_ints(i, interesting_int(a->ints(i)));
        }
        return true;
      case onnx::AttributeProto::STRING: a->set_s(coin() ? "" : "SAME_UPPER"); return true;
      default: return false;
    }
  }

  // The tensor's payload: truncated, doubled, shuffled, or one element set to an interesting value.
  bool initializer_data(onnx::ModelProto &m) {
    auto *g = m.mutable_graph();
    if (g->initializer_size() == 0) return false;
    auto *t = g->mutable_initializer(static_cast<int>(pick(g->initializer_size())));
    if (t->has_raw_data()) {
      std::string raw = t->raw_data();
      switch (pick(5)) {
        case 0: raw.resize(raw.size() / 2); break;
        case 1: raw += raw; break;
        case 2: raw.clear(); break;
        case 3: std::shuffle(raw.begin(), raw.end(), rng_); break;
        default: mutate_one_element(raw, t->data_type()); break;
      }
      t->set_raw_data(raw);
      return true;
    }
    if (t->float_data_size()) {
      switch (pick(3)) {
        case 0: t->mutable_float_data()->RemoveLast(); break;
        case 1: t->add_float_data(interesting_float(1.f)); break;
        default: {
          const int i = static_cast<int>(pick(t->float_data_size()));
          t->set_float_data(i, interesting_float(t->float_data(i)));
        }
      }
      return true;
    }
    if (t->int32_data_size()) {
      const int i = static_cast<int>(pick(t->int32_data_size()));
      t->set_int32_data(i, static_cast<int32_t>(interesting_int(t->int32_data(i))));
      return true;
    }
    if (t->int64_data_size()) {
      const int i = static_cast<int>(pick(t->int64_data_size()));
      t->set_int64_data(i, interesting_int(t->int64_data(i)));
      return true;
    }
    return false;
  }

  bool rewire(onnx::ModelProto &m) {
    auto *g = m.mutable_graph();
    if (g->node_size() == 0) return false;
    auto *n = g->mutable_node(static_cast<int>(pick(g->node_size())));
    const auto names = tensor_names(m);
    if (n->input_size() == 0 || pick(6) == 0) {
      n->add_input(names[pick(names.size())]);
      return true;
    }
    if (pick(6) == 0) {
      n->mutable_input()->RemoveLast();
      return true;
    }
    n->set_input(static_cast<int>(pick(n->input_size())), names[pick(names.size())]);
    return true;
  }

  bool delete_node(onnx::ModelProto &m) {
    auto *nodes = m.mutable_graph()->mutable_node();
    if (nodes->empty()) return false;
    const int i = static_cast<int>(pick(nodes->size()));
    if (coin()) {
      nodes->DeleteSubrange(i, 1);
    } else {  // swap with a neighbour: out of topological order
      const int j = i + 1 < nodes->size() ? i + 1 : i - 1;
      if (j < 0) return false;
      nodes->SwapElements(i, j);
    }
    return true;
  }

  bool op_type(onnx::ModelProto &m) {
    static const char *ops[] = {"Conv", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten",
                                "Gemm", "Softmax", "BatchNormalization", "Dropout", "QuantizeLinear",
                                "DequantizeLinear", "Identity", "Reshape", "MatMul", "Add"};
    auto *g = m.mutable_graph();
    if (g->node_size() == 0) return false;
    g->mutable_node(static_cast<int>(pick(g->node_size())))->set_op_type(ops[pick(sizeof ops / sizeof ops[0])]);
    return true;
  }

  // A scale or zero point of a QuantizeLinear/DequantizeLinear (inputs 1 and 2): one element changed.
  bool qdq_param(onnx::ModelProto &m) {
    auto *g = m.mutable_graph();
    std::vector<std::string> params;
    for (const auto &n : g->node())
      if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear")
        for (int i = 1; i < n.input_size(); ++i) params.push_back(n.input(i));
    if (params.empty()) return false;
    const std::string name = params[pick(params.size())];
    for (auto &t : *g->mutable_initializer()) {
      if (t.name() != name) continue;
      std::string raw = t.raw_data();
      if (!raw.empty()) {
        mutate_one_element(raw, t.data_type());
      } else if (t.float_data_size()) {
        t.set_float_data(0, interesting_float(t.float_data(0)));
        return true;
      } else if (t.int32_data_size()) {
        t.set_int32_data(0, static_cast<int32_t>(interesting_int(t.int32_data(0))));
        return true;
      } else {
        return false;
      }
      t.set_raw_data(raw);
      return true;
    }
    return false;
  }

  // A number inside a metadata value (qparity.int8.layers is JSON: shapes, kernels, scales) replaced.
  bool metadata_number(onnx::ModelProto &m) {
    if (m.metadata_props_size() == 0) return false;
    auto *p = m.mutable_metadata_props(static_cast<int>(pick(m.metadata_props_size())));
    std::string s = p->value();
    std::vector<size_t> starts;
    for (size_t i = 0; i < s.size(); ++i)
      if (std::isdigit(static_cast<unsigned char>(s[i])) && (i == 0 || !std::isdigit(static_cast<unsigned char>(s[i - 1]))))
        starts.push_back(i);
    if (starts.empty()) {
      if (s.empty()) return false;
      s.erase(pick(s.size()), 1);
    } else {
      const size_t b = starts[pick(starts.size())];
      size_t e = b;
      while (e < s.size() && (std::isdigit(static_cast<unsigned char>(s[e])) || s[e] == '.' || s[e] == 'e' || s[e] == '-')) ++e;
      static const char *v[] = {"0", "1", "2", "3", "-1", "4294967296", "2147483648", "1e308", "0.0", "65536", "33", "31"};
      s.replace(b, e - b, v[pick(sizeof v / sizeof v[0])]);
    }
    p->set_value(s);
    return true;
  }

  // The initializer list: one dropped, duplicated (same name twice) or two swapped.
  bool initializer_list(onnx::ModelProto &m) {
    auto *inits = m.mutable_graph()->mutable_initializer();
    if (inits->empty()) return false;
    const int i = static_cast<int>(pick(inits->size()));
    switch (pick(3)) {
      case 0: inits->DeleteSubrange(i, 1); break;
      case 1: *inits->Add() = inits->Get(i); break;
      default: inits->SwapElements(i, static_cast<int>(pick(inits->size())));
    }
    return true;
  }

  bool data_type(onnx::ModelProto &m) {
    static const int types[] = {onnx::TensorProto::FLOAT, onnx::TensorProto::INT8, onnx::TensorProto::UINT8,
                                onnx::TensorProto::INT32, onnx::TensorProto::INT64, onnx::TensorProto::DOUBLE};
    auto *g = m.mutable_graph();
    if (g->initializer_size() == 0) return false;
    g->mutable_initializer(static_cast<int>(pick(g->initializer_size())))
        ->set_data_type(types[pick(sizeof types / sizeof types[0])]);
    return true;
  }

  std::minstd_rand rng_;
};

// The body of LLVMFuzzerCustomMutator for an ONNX harness: one structural mutation of a parsed model (most
// of the time), else libFuzzer's own byte mutation.
inline size_t mutate_onnx(uint8_t *data, size_t size, size_t max_size, unsigned seed) {
  onnx::ModelProto m;
  if (seed % 8 != 0 && size > 0 && m.ParseFromArray(data, static_cast<int>(size))) {
    OnnxMutator mut(seed);
    if (mut.mutate(m)) {
      std::string out;
      if (m.SerializeToString(&out) && out.size() <= max_size) {
        std::memcpy(data, out.data(), out.size());
        return out.size();
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

}  // namespace qp::fuzz
