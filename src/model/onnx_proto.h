// Small helpers for building ONNX protobufs, shared by the FP32 writer (model/onnx_io.cpp) and the
// INT8 QDQ writer (quant/qdq_onnx.cpp).
#pragma once
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace qp::model::onnxp {

// An initializer of element type `type` (onnx::TensorProto::FLOAT, INT8, INT32, ...) with raw
// little-endian data.
template <typename T>
void add_initializer(onnx::GraphProto *g, const std::string &name, int type, const std::vector<int64_t> &dims,
                     const std::vector<T> &v) {
  auto *t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (auto d : dims) t->add_dims(d);
  std::string raw(v.size() * sizeof(T), '\0');
  std::memcpy(raw.data(), v.data(), raw.size());
  t->set_raw_data(raw);
}

inline onnx::NodeProto *add_node(onnx::GraphProto *g, const std::string &op, const std::vector<std::string> &inputs,
                                 const std::string &output, const std::string &name) {
  auto *n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto &i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

inline void attr_ints(onnx::NodeProto *n, const std::string &name, const std::vector<int64_t> &v) {
  auto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

inline void attr_int(onnx::NodeProto *n, const std::string &name, int64_t v) {
  auto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

// A float32 tensor [N, dims...] with a symbolic batch dimension.
inline void set_float_value_info(onnx::ValueInfoProto *vi, const std::string &name, const std::vector<int64_t> &dims) {
  vi->set_name(name);
  auto *tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto *shape = tt->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (auto d : dims) shape->add_dim()->set_dim_value(d);
}

// ir_version 7 / opset 13, producer qparity, metadata from `meta`.
inline void init_model(onnx::ModelProto *m, const std::string &doc, const std::map<std::string, std::string> &meta) {
  m->set_ir_version(7);
  m->set_producer_name("qparity");
  m->set_producer_version(QPARITY_VERSION);
  m->set_model_version(1);
  m->set_doc_string(doc);
  auto *opset = m->add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  for (const auto &[k, v] : meta) {
    auto *p = m->add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
}

// Runs onnx's checker on a model qparity built (a failure is a qparity bug, reported as such) and
// writes it to `path` atomically.
void check_and_write(const onnx::ModelProto &m, const std::string &path, const std::string &what);

}  // namespace qp::model::onnxp
