// The results codec (see results_io.h).
#include "eval/results_io.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/stats.h"
#include "data/image_io.h"

namespace qp::eval {

namespace jr = json_read;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

[[noreturn]] void refuse(const jr::Source &src, const std::string &what, const std::string &fix) {
  throw Error(what + (fix.empty() ? "" : "\n  fix: " + fix), src.exit_code);
}

std::string optional_string(const json &j, const char *key, const jr::Source &src, const std::string &path = "") {
  const json *v = jr::optional_member(j, key, src, path);
  return v ? jr::as_string(*v, src, jr::key_path(path, key)) : std::string();
}

std::string tail2(const std::string &path) {
  const std::filesystem::path p(path);
  return (p.parent_path().filename() / p.filename()).string();
}

// "output": what the int8 vectors mean (Int8Output). Absent: a softmax's probabilities (files written before logits).
Int8Output read_output(const json &j, const jr::Source &src) {
  Int8Output o;
  const json *v = jr::optional_member(j, "output", src);
  if (v == nullptr) return o;
  jr::as_object(*v, src, "output");
  const std::string kind = jr::to_string(*v, "kind", src, "output");
  if (kind != "probabilities" && kind != "logits")
    refuse(src, src.name + ": output.kind is '" + kind + "', not 'probabilities' or 'logits'", src.fix);
  o.logits = kind == "logits";
  o.scale = jr::to_number(*v, "scale", src, "output");
  o.zero_point = static_cast<int32_t>(jr::to_int(*v, "zero_point", -128, 127, src, "output"));
  if (!(o.scale > 0)) refuse(src, src.name + ": output.scale must be positive", src.fix);
  if (!o.logits && (o.scale != 1.0 / 256.0 || o.zero_point != -128))
    refuse(src, src.name + ": probabilities (a softmax output) have scale 1/256 and zero point -128", src.fix);
  return o;
}

}  // namespace

ResultsFile read_results(const json &j, const jr::Source &src, const ReadOptions &opt) {
  // Something else entirely (another JSON file passed by mistake): said as such. A results file missing one of
  // the two lists, or holding a wrong type, is named by its key below.
  if (!j.is_object() || (!j.contains("images") && !j.contains("classes")))
    refuse(src, src.name + " is not a qparity results file (no \"classes\" and \"images\" lists)", src.fix);
  ResultsFile f;
  Results &r = f.results;
  r.classes = jr::string_array(j, "classes", src);
  if (r.classes.empty()) refuse(src, src.name + " lists no classes", src.fix);
  r.model = optional_string(j, "model", src);
  r.precision = optional_string(j, "precision", src);
  f.platform = optional_string(j, "platform", src);
  if (opt.require_int8 && r.precision != "int8")
    refuse(src,
           src.name + " holds " + (r.precision.empty() ? "results of unknown precision" : r.precision + " results") +
               ", not INT8 ones",
           "verify compares INT8 results: evaluate the quantized model (qparity eval --model int8.onnx)");
  if (jr::optional_member(j, "model_sha256", src)) r.model_sha256 = jr::sha256(j, "model_sha256", src);
  const bool int8 = r.precision == "int8";
  const auto classes = static_cast<int64_t>(r.classes.size());
  // Every value is read exactly: an integer that does not fit is refused, never truncated, so a score of
  // 2^32 + s cannot pass for s. Messages name the key path, e.g. "images[12].scores[3]".
  std::map<std::string, size_t> seen_file;
  const json &images = jr::array(j, "images", src);
  r.images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const json &e = images[i];
    const std::string where = jr::index_path("images", i);
    jr::as_object(e, src, where);
    ImageResult im;
    im.file = jr::to_string(e, "file", src, where);
    if (opt.require_image_sha256 || jr::optional_member(e, "sha256", src, where)) im.sha256 = jr::sha256(e, "sha256", src, where);
    im.label = static_cast<int>(jr::to_int(e, "label", 0, classes - 1, src, where));
    im.pred = static_cast<int>(jr::to_int(e, "pred", 0, classes - 1, src, where));
    if (int8) {
      im.qscores = jr::int8_scores(e, "scores", r.classes.size(), src, where);
    } else {
      const json &sc = jr::array(e, "scores", src, where);
      im.scores.reserve(sc.size());
      for (size_t k = 0; k < sc.size(); ++k)
        im.scores.push_back(static_cast<float>(jr::as_number(sc[k], src, jr::index_path(where + ".scores", k))));
    }
    // Device timing: optional, but never negative or past int64.
    if (const json *v = jr::optional_member(e, "cycles", src, where); v && !v->is_null())
      im.cycles = jr::as_int(*v, 0, INT64_MAX, src, jr::key_path(where, "cycles"));
    if (const json *v = jr::optional_member(e, "micros", src, where); v && !v->is_null())
      im.micros = jr::as_int(*v, 0, INT64_MAX, src, jr::key_path(where, "micros"));
    if (auto [it, fresh] = seen_file.emplace(im.file, i); !fresh)
      refuse(
          src,
          src.name + " lists '" + im.file + "' twice (images " + std::to_string(it->second) + " and " + std::to_string(i) + ")",
          "write the file again; each image must appear once");
    r.images.push_back(std::move(im));
  }
  if (const json *n = jr::optional_member(j, "n", src); n) {
    if (jr::as_int(*n, 0, INT64_MAX, src, "n") != static_cast<int64_t>(r.images.size()))
      refuse(src, src.name + " says n = " + n->dump() + " but lists " + std::to_string(r.images.size()) + " images",
             "the file is truncated or was edited; write it again");
  }
  r.set_output(read_output(j, src));
  r.confusion = confusion_matrix(r.images, r.classes.size());
  if (const json *s = jr::optional_member(j, "subset", src); s && !s->is_null())
    f.subset = ordered_json::parse(jr::as_object(*s, src, "subset").dump());
  if (const json *d = jr::optional_member(j, "device", src); d && !d->is_null())
    f.device = ordered_json::parse(jr::as_object(*d, src, "device").dump());
  return f;
}

ResultsFile read_results_file(const std::string &path, const jr::Source &src, const ReadOptions &opt) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) refuse(src, src.name + " does not exist", src.fix);
  return read_results(jr::parse_file(path, src), src, opt);
}

ordered_json image_json(const ImageResult &i) {
  ordered_json e = {{"file", i.file}, {"sha256", i.sha256}, {"label", i.label}, {"pred", i.pred}};
  if (i.qscores.empty()) {
    e["scores"] = i.scores;
  } else {
    e["scores"] = i.qscores;
    e["margin"] = i.margin();
  }
  e["conf"] = i.conf();
  if (i.cycles) e["cycles"] = *i.cycles;
  if (i.micros) e["micros"] = *i.micros;
  if (i.tie()) e["tie"] = true;  // decided for the first tied class
  return e;
}

ordered_json results_json(const ResultsFile &f) {
  const Results &r = f.results;
  ordered_json j;
  const auto ci = wilson95(r.correct(), static_cast<int64_t>(r.images.size()));
  j["model"] = r.model;
  j["model_sha256"] = r.model_sha256;
  j["precision"] = r.precision;
  if (!f.platform.empty()) j["platform"] = f.platform;
  j["n"] = r.images.size();
  j["classes"] = r.classes;
  if (r.precision == "int8")
    j["output"] = {{"kind", r.output.logits ? "logits" : "probabilities"},
                   {"scale", r.output.scale},
                   {"zero_point", r.output.zero_point},
                   {"margin_unit", r.output.margin_unit()}};
  j["accuracy"] = r.accuracy();
  j["accuracy_ci95"] = {ci.lo, ci.hi};
  put_confusion_json(j, "confusion", r.classes.size(), label_pred(r.images));
  j["ties"] = r.ties();
  auto &imgs = j["images"] = ordered_json::array();
  for (const auto &i : r.images) imgs.push_back(image_json(i));
  if (!f.subset.is_null()) j["subset"] = f.subset;
  if (!f.device.is_null()) j["device"] = f.device;
  return j;
}

void write_results_file(const ResultsFile &f, const std::string &path) {
  const std::string text = results_json(f).dump(1) + "\n";
  data::write_file_atomic(path, text.data(), text.size());
}

ImageMatcher::ImageMatcher(const std::vector<ImageResult> &pool) : pool_(pool), claimed_(pool.size(), false) {
  by_hash_.reserve(pool.size());
  for (size_t i = 0; i < pool.size(); ++i) by_hash_.emplace_back(pool[i].sha256, i);
  std::sort(by_hash_.begin(), by_hash_.end());
}

long ImageMatcher::find(const ImageResult &want) {
  const auto lo = std::lower_bound(by_hash_.begin(), by_hash_.end(), std::make_pair(want.sha256, size_t{0}));
  auto hi = lo;
  while (hi != by_hash_.end() && hi->first == want.sha256) ++hi;
  if (lo == hi) return -1;
  auto try_rule = [&](auto same) {
    for (auto it = lo; it != hi; ++it)
      if (!claimed_[it->second] && same(pool_[it->second])) return static_cast<long>(it->second);
    return -2L;
  };
  long pick = try_rule([&](const ImageResult &h) { return h.file == want.file; });
  if (pick < 0) pick = try_rule([&](const ImageResult &h) { return tail2(h.file) == tail2(want.file); });
  if (pick < 0) pick = try_rule([](const ImageResult &) { return true; });
  if (pick >= 0) claimed_[static_cast<size_t>(pick)] = true;
  return pick;
}

DecisionAgreement decision_agreement(const std::vector<ImageResult> &a, const std::vector<ImageResult> &b,
                                     const std::vector<std::pair<size_t, size_t>> &pairs) {
  DecisionAgreement d;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const auto [i, j] = pairs[k];
    if (i >= a.size() || j >= b.size())
      fail("internal: decision_agreement pair (" + std::to_string(i) + ", " + std::to_string(j) + ") out of range");
    const ImageResult &x = a[i], &y = b[j];
    ++d.n;
    d.same += x.pred == y.pred;
    if (x.pred != y.pred) d.flipped.push_back(k);
    const bool ra = x.pred == x.label, rb = y.pred == y.label;
    d.only_a_right += ra && !rb;
    d.only_b_right += rb && !ra;
  }
  d.agreement = d.n ? static_cast<double>(d.same) / static_cast<double>(d.n) : 0.0;
  d.mcnemar_p = mcnemar_exact_p(d.only_a_right, d.only_b_right);
  return d;
}

}  // namespace qp::eval
