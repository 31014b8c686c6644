#include "eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/parallel.h"
#include "common/stats.h"
#include "data/image_io.h"
#include "eval/results_io.h"
#include "model/executor_fp32.h"

namespace qp::eval {

Int8Output Int8Output::of(const quant::QModel &m) {
  Int8Output o;
  if (!m.outputs_logits()) return o;
  o.logits = true;
  o.scale = m.layers.back().q.output.scale;
  o.zero_point = m.layers.back().q.output.zero_point;
  return o;
}

double Int8Output::conf(const std::vector<int> &q) const {
  if (q.empty()) return 0.0;
  const int top = *std::max_element(q.begin(), q.end());
  if (!logits) return (top + 128) / 256.0;
  // softmax of scale * (q - zp) at the top: 1 / sum_k exp(scale * (q_k - top)); the zero point cancels.
  double sum = 0.0;
  for (const int v : q) sum += std::exp(scale * static_cast<double>(v - top));
  return 1.0 / sum;
}

std::string Int8Output::margin_unit() const {
  if (!logits) return "int8 steps (1/256 probability each)";
  char buf[80];
  std::snprintf(buf, sizeof buf, "int8 steps (%.4g logit units each)", scale);
  return buf;
}

double ImageResult::conf() const {
  if (!qscores.empty()) return output.conf(qscores);
  return scores.empty() ? 0.0 : *std::max_element(scores.begin(), scores.end());
}

void Results::set_output(const Int8Output &o) {
  output = o;
  for (auto &i : images) i.output = o;
}

int int8_margin(const std::vector<int> &scores) {
  if (scores.size() < 2) return 0;
  int top = std::max(scores[0], scores[1]), second = std::min(scores[0], scores[1]);
  for (size_t k = 2; k < scores.size(); ++k) {
    if (scores[k] > top) {
      second = top;
      top = scores[k];
    } else if (scores[k] > second) {
      second = scores[k];
    }
  }
  return top - second;
}

int ImageResult::margin() const {
  return int8_margin(qscores);
}

bool ImageResult::tie() const {
  return qscores.empty() ? top_tie(scores) : top_tie(qscores);
}

int Results::correct() const {
  int c = 0;
  for (const auto &i : images) c += i.label == i.pred;
  return c;
}

double Results::accuracy() const {
  return images.empty() ? 0.0 : static_cast<double>(correct()) / images.size();
}

int Results::ties() const {
  int t = 0;
  for (const auto &i : images) t += i.tie();
  return t;
}

namespace {

bool outside(int label, int pred, size_t classes) {
  return label < 0 || pred < 0 || static_cast<size_t>(label) >= classes || static_cast<size_t>(pred) >= classes;
}

}  // namespace

std::vector<std::vector<int>> confusion_matrix(const std::vector<std::pair<int, int>> &lp, size_t classes) {
  // An index outside the classes is refused, never skipped or written out of bounds: results read back from a
  // journal or a device are checked on the way in, so this is the last line of defence.
  for (size_t k = 0; k < lp.size(); ++k)
    if (outside(lp[k].first, lp[k].second, classes))
      fail("image " + std::to_string(k) + " has label " + std::to_string(lp[k].first) + " and prediction " +
               std::to_string(lp[k].second) + ", outside the model's " + std::to_string(classes) + " classes",
           "its results were damaged or come from another model: evaluate it again with this model");
  if (classes > kConfusionDenseMax) return {};
  std::vector<std::vector<int>> m(classes, std::vector<int>(classes, 0));
  for (const auto &[l, p] : lp) ++m[static_cast<size_t>(l)][static_cast<size_t>(p)];
  return m;
}

std::vector<std::vector<int>> confusion_matrix(const std::vector<ImageResult> &images, size_t classes) {
  for (const auto &i : images)
    if (outside(i.label, i.pred, classes))
      fail("image '" + i.file + "' has label " + std::to_string(i.label) + " and prediction " + std::to_string(i.pred) +
               ", outside the model's " + std::to_string(classes) + " classes",
           "its results were damaged or come from another model: evaluate it again with this model");
  return confusion_matrix(label_pred(images), classes);
}

std::vector<std::pair<int, int>> label_pred(const std::vector<ImageResult> &images) {
  std::vector<std::pair<int, int>> v;
  v.reserve(images.size());
  for (const auto &i : images) v.emplace_back(i.label, i.pred);
  return v;
}

std::vector<ConfusionCell> confusion_cells(const std::vector<std::pair<int, int>> &lp) {
  std::map<std::pair<int, int>, int64_t> cells;  // memory grows with the images, never with classes^2
  for (const auto &[l, p] : lp)
    if (l >= 0 && p >= 0) ++cells[{l, p}];
  std::vector<ConfusionCell> out;
  out.reserve(cells.size());
  for (const auto &[k, n] : cells) out.push_back({k.first, k.second, n});
  return out;
}

void put_confusion_json(nlohmann::ordered_json &j, const std::string &key, size_t classes,
                        const std::vector<std::pair<int, int>> &lp) {
  const auto cells = confusion_cells(lp);
  if (classes <= kConfusionDenseMax) {
    std::vector<std::vector<int64_t>> m(classes, std::vector<int64_t>(classes, 0));
    for (const auto &c : cells)
      if (static_cast<size_t>(c.truth) < classes && static_cast<size_t>(c.pred) < classes)
        m[static_cast<size_t>(c.truth)][static_cast<size_t>(c.pred)] = c.count;
    j[key] = m;
    return;
  }
  j[key] = nullptr;
  auto &out = j[key + "_cells"] = nlohmann::ordered_json::array();
  for (const auto &c : cells) out.push_back({c.truth, c.pred, c.count});
}

std::string format_confusion_or_top(const std::vector<std::string> &classes, const std::vector<std::pair<int, int>> &lp,
                                    size_t top) {
  const auto cells = confusion_cells(lp);
  if (classes.size() <= kConfusionTableMax) {
    std::vector<std::vector<int>> m(classes.size(), std::vector<int>(classes.size(), 0));
    for (const auto &c : cells)
      if (static_cast<size_t>(c.truth) < classes.size() && static_cast<size_t>(c.pred) < classes.size())
        m[static_cast<size_t>(c.truth)][static_cast<size_t>(c.pred)] = static_cast<int>(c.count);
    return format_confusion(classes, m);
  }
  std::vector<ConfusionCell> off;
  int64_t wrong = 0;
  for (const auto &c : cells)
    if (c.truth != c.pred) {
      off.push_back(c);
      wrong += c.count;
    }
  // Largest first; equal counts in (true, pred) order, so the output does not depend on the sort.
  std::stable_sort(off.begin(), off.end(), [](const ConfusionCell &a, const ConfusionCell &b) { return a.count > b.count; });
  auto name = [&](int c) {
    return static_cast<size_t>(c) < classes.size() ? classes[static_cast<size_t>(c)] : "#" + std::to_string(c);
  };
  std::string out = "confusion matrix: " + std::to_string(classes.size()) + " classes (too many to print; the JSON holds it), " +
                    std::to_string(wrong) + " image(s) off the diagonal";
  if (off.empty()) return out + "\n";
  out += "; top confusions:\n";
  for (size_t i = 0; i < std::min(top, off.size()); ++i)
    out += "  true " + name(off[i].truth) + " -> pred " + name(off[i].pred) + ": " + std::to_string(off[i].count) + "\n";
  if (off.size() > top) out += "  ... and " + std::to_string(off.size() - top) + " more confused pair(s)\n";
  return out;
}

std::string format_ties(const Results &r) {
  const int t = r.ties();
  if (t == 0) return "";
  return std::to_string(t) + " image(s) with a tie for the top " + (r.precision == "int8" ? "int8 score (margin 0)" : "score") +
         ": decided for the first tied class in class order (host and device alike)\n";
}

Results evaluate_fp32(const model::ModelFile &mf, const data::Split &split, int threads) {
  const model::Graph &g = mf.graph;
  if (!split.has_input(g.input.h, g.input.w, g.input.c))
    fail("internal: split resized to " + std::to_string(split.height) + "x" + std::to_string(split.width) + "x" +
         std::to_string(split.channels) + " but the model takes " + std::to_string(g.input.h) + "x" + std::to_string(g.input.w) + "x" +
         std::to_string(g.input.c));
  const model::Fp32Executor exec(g);
  const bool has_softmax = !g.layers.empty() && g.layers.back().op == model::Op::Softmax;
  Results r;
  r.model = mf.path;
  r.model_sha256 = mf.sha256;
  r.classes = g.classes;
  r.images.resize(split.samples.size());
  parallel_for(split.samples.size(), threads, [&](size_t i) {
    auto out = exec.run_rgb(split.image(i));
    if (!has_softmax) out = model::softmax(out);
    ImageResult &ir = r.images[i];
    ir.file = split.samples[i].path;
    ir.sha256 = split.samples[i].sha256;
    ir.label = split.samples[i].label;
    ir.pred = first_argmax(out);
    ir.scores = std::move(out);
  });
  r.confusion = confusion_matrix(r.images, r.classes.size());
  return r;
}

Results evaluate_int8(const quant::QModel &m, const std::string &model_path, const std::string &model_sha256,
                      const data::Split &split, int threads, quant::Backend backend, quant::OptIsa isa) {
  if (!split.has_input(m.input.h, m.input.w, m.input.c))
    fail("internal: split resized to " + std::to_string(split.height) + "x" + std::to_string(split.width) + "x" +
         std::to_string(split.channels) + " but the model takes " + std::to_string(m.input.h) + "x" + std::to_string(m.input.w) + "x" +
         std::to_string(m.input.c));
  const quant::Int8Engine engine(m, backend, isa);
  Results r;
  r.model = model_path;
  r.model_sha256 = model_sha256;
  r.precision = "int8";
  r.classes = m.classes;
  r.images.resize(split.samples.size());
  parallel_for(split.samples.size(), threads, [&](size_t i) {
    const auto out = engine.run(split.image(i));
    ImageResult &ir = r.images[i];
    ir.file = split.samples[i].path;
    ir.sha256 = split.samples[i].sha256;
    ir.label = split.samples[i].label;
    ir.qscores.assign(out.begin(), out.end());
    ir.pred = first_argmax(ir.qscores);  // the first maximum wins ties, as on the device
  });
  r.set_output(Int8Output::of(m));
  r.confusion = confusion_matrix(r.images, r.classes.size());
  return r;
}

double agreement(const Results &a, const Results &b) {
  if (a.images.size() != b.images.size() || a.images.empty()) fail("the two result sets cover different images");
  std::vector<std::pair<size_t, size_t>> pairs;
  for (size_t i = 0; i < a.images.size(); ++i) {
    if (a.images[i].file != b.images[i].file) fail("the two result sets list different images at position " + std::to_string(i));
    pairs.emplace_back(i, i);
  }
  return decision_agreement(a.images, b.images, pairs).agreement;
}

std::string format_confusion(const std::vector<std::string> &classes, const std::vector<std::vector<int>> &confusion) {
  if (confusion.size() != classes.size()) return "confusion matrix: " + std::to_string(classes.size()) + " classes, not printed\n";
  for (const auto &row : confusion)
    if (row.size() != classes.size()) return "confusion matrix: not square, not printed\n";
  size_t w = 12;
  for (const auto &c : classes) w = std::max(w, c.size() + 2);
  auto cap = [](std::string s) {
    if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return s;
  };
  std::string out;
  char cell[64];
  std::snprintf(cell, sizeof cell, "%-*s", static_cast<int>(w), "True \\ Pred");
  out += cell;
  for (const auto &c : classes) {
    std::snprintf(cell, sizeof cell, "%*s", static_cast<int>(w), cap(c).c_str());
    out += cell;
  }
  out += "\n";
  for (size_t i = 0; i < classes.size(); ++i) {
    std::snprintf(cell, sizeof cell, "%-*s", static_cast<int>(w), cap(classes[i]).c_str());
    out += cell;
    for (size_t j = 0; j < classes.size(); ++j) {
      std::snprintf(cell, sizeof cell, "%*d", static_cast<int>(w), confusion[i][j]);
      out += cell;
    }
    out += "\n";
  }
  return out;
}

std::string format_accuracy(const Results &r) {
  const auto ci = wilson95(r.correct(), static_cast<int64_t>(r.images.size()));
  char buf[160];
  std::snprintf(buf, sizeof buf, "accuracy %.2f%% (%d/%zu), Wilson 95%% CI [%.2f%%, %.2f%%]", 100.0 * r.accuracy(), r.correct(),
                r.images.size(), 100.0 * ci.lo, 100.0 * ci.hi);
  return buf;
}

void write_results_json(const Results &r, const std::string &path) {
  ResultsFile f;
  f.results = r;
  write_results_file(f, path);
}

}  // namespace qp::eval
