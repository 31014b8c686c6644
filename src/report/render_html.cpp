// The report page: one HTML document with inline CSS and SVG, thumbnails as data: URIs, no scripts.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "common/sha256.h"
#include "common/stats.h"
#include "data/image_io.h"
#include "eval/evaluate.h"
#include "quant/labels.h"
#include "report/run_data.h"
#include "report/svg_bars.h"

namespace qp::report::detail {

namespace {

namespace fs = std::filesystem;

constexpr double kSeedEsp32Ms = 39.68;  // the seed's measured ESP32 inference time

std::string esc(const std::string &s) {
  return html_escape(s);
}

std::string fmt(const char *f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string grouped(int64_t v) {
  if (v < 0) return "&ndash;";
  std::string s = std::to_string(v), o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) o += ',';
    o += s[i];
  }
  return o;
}

std::string pct(double v, int digits = 2) {
  if (!std::isfinite(v)) return "&ndash;";
  return fmt(digits == 1 ? "%.1f%%" : digits == 0 ? "%.0f%%" : "%.2f%%", 100.0 * v);
}

std::string bytes_text(int64_t b) {
  if (b < 0) return "&ndash;";
  if (b < 10 * 1024) return grouped(b) + " B";
  if (b < 10 * 1024 * 1024) return fmt("%.1f KiB", static_cast<double>(b) / 1024.0);
  return fmt("%.2f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
}

std::string number(double v, const char *f = "%.4g") {
  return std::isfinite(v) ? fmt(f, v) : "&ndash;";
}

std::string base64(const std::vector<uint8_t> &in) {
  static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t a = in[i], b = i + 1 < in.size() ? in[i + 1] : 0, c = i + 2 < in.size() ? in[i + 2] : 0;
    const uint32_t v = (a << 16) | (b << 8) | c;
    o += t[(v >> 18) & 63];
    o += t[(v >> 12) & 63];
    o += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    o += i + 2 < in.size() ? t[v & 63] : '=';
  }
  return o;
}

std::string not_run(const std::string &what, const std::string &how) {
  return "<div class=\"notrun\"><b>Not run.</b> " + what + (how.empty() ? "" : " <span class=\"how\">" + how + "</span>") +
         "</div>";
}

std::string unreadable(const Artifact &a) {
  return "<div class=\"notrun bad\"><b>Unreadable.</b> <code>" + esc(a.name) + "</code>: " + esc(a.error) + "</div>";
}

// A file's name (not its folder) for a thumbnail caption.
std::string fname(const std::string &file) {
  return "<span class=\"fn\">" + esc(fs::path(file).filename().string()) + "</span>";
}

int64_t trace(const Matrix &m) {
  int64_t t = 0;
  for (size_t i = 0; i < m.size(); ++i)
    if (i < m[i].size()) t += m[i][i];
  return t;
}
int64_t total(const Matrix &m) {
  int64_t t = 0;
  for (const auto &row : m)
    for (int64_t v : row) t += v;
  return t;
}

std::string acc_with_ci(int64_t k, int64_t n) {
  if (n <= 0) return "&ndash;";
  const Interval ci = wilson95(k, n);
  return pct(static_cast<double>(k) / static_cast<double>(n)) + " <span class=\"ci\">(" + grouped(k) + "/" + grouped(n) +
         ", 95% CI " + pct(ci.lo, 1) + "&ndash;" + pct(ci.hi, 1) + ")</span>";
}

class Renderer {
 public:
  explicit Renderer(const RunData &r) : r_(r) {}
  std::string page();

 private:
  const RunData &r_;
  std::map<std::string, std::string> thumbs_;

  std::string cls(int c) const {
    if (c >= 0 && static_cast<size_t>(c) < r_.classes.size()) return esc(r_.classes[static_cast<size_t>(c)]);
    return c < 0 ? "&ndash;" : std::to_string(c);
  }
  std::string thumb(const std::string &file, const std::string &sha, const std::string &extra_class = "");
  std::string matrix_table(const std::string &title, const std::string &where, const Matrix &m, const std::string &missing);
  // matrix_table up to eval::kConfusionTableMax classes; above, the largest off-diagonal cells of
  // the (label, pred) pairs (a K x K table does not fit a page, nor, for thousands of classes, memory).
  std::string confusion_block(const std::string &title, const std::string &where, const Matrix &m,
                              const std::vector<std::pair<int, int>> &lp, const std::string &missing);

  std::string header();
  std::string summary();
  std::string pipeline();
  std::string matrices();
  std::string equivalence();
  std::string device_log();
  std::string fp32_int8();
  std::string inspection();
  std::string training();
  std::string footprint();
  std::string reproduce();
};

std::string Renderer::thumb(const std::string &file, const std::string &sha, const std::string &extra_class) {
  const std::string key = file + "|" + sha;
  auto it = thumbs_.find(key);
  std::string img;
  if (it != thumbs_.end()) {
    img = it->second;
  } else {
    const std::string path = resolve_image(r_, file);
    std::string why;
    std::string uri;
    if (path.empty()) {
      why = "image not found";
    } else {
      try {
        std::vector<uint8_t> bytes = data::read_file_bytes(path);
        if (!sha.empty() && sha256_hex(bytes.data(), bytes.size()) != sha) {
          why = "image changed since it was evaluated";
        } else {
          std::string ext = fs::path(path).extension().string();
          std::transform(ext.begin(), ext.end(), ext.begin(),
                         [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
          data::Image im = data::decode_image(bytes, path);
          if (ext == ".png" && bytes.size() <= 16384 && im.width <= 96 && im.height <= 96) {
            uri = "data:image/png;base64," + base64(bytes);  // small PNGs exactly as evaluated
          } else {
            const double s = 64.0 / std::max(im.width, im.height);
            if (s < 1)
              im = data::resize_area(im, std::max(1, static_cast<int>(im.width * s)),
                                     std::max(1, static_cast<int>(im.height * s)));
            uri = "data:image/png;base64," + base64(data::encode_png(im));
          }
        }
      } catch (const std::exception &e) {
        why = "image unreadable";
      }
    }
    img = uri.empty() ? "<span class=\"th ph\" title=\"" + esc(why + ": " + file) + "\">?</span>"
                      : "<img class=\"th\" src=\"" + uri + "\" alt=\"" + esc(fs::path(file).filename().string()) + "\">";
    thumbs_.emplace(key, img);
  }
  if (extra_class.empty()) return img;
  const size_t p = img.find("class=\"th");
  return p == std::string::npos ? img : img.insert(p + 9, " " + extra_class);
}

std::string Renderer::matrix_table(const std::string &title, const std::string &where, const Matrix &m,
                                   const std::string &missing) {
  std::string o = "<div class=\"cm\"><h3>" + title + "</h3><div class=\"where\">" + where + "</div>";
  if (m.empty()) return o + not_run(missing, "") + "</div>";
  int64_t mx = 1;
  for (const auto &row : m)
    for (int64_t v : row) mx = std::max(mx, v);
  o += "<div class=\"scroll\"><table class=\"heat\"><thead><tr><th class=\"corner\">True \\ Pred</th>";
  for (size_t c = 0; c < m.size(); ++c) o += "<th>" + cls(static_cast<int>(c)) + "</th>";
  o += "<th class=\"tot\">total</th></tr></thead><tbody>";
  for (size_t i = 0; i < m.size(); ++i) {
    o += "<tr><th>" + cls(static_cast<int>(i)) + "</th>";
    int64_t row_total = 0;
    for (size_t j = 0; j < m[i].size(); ++j) {
      const int64_t v = m[i][j];
      row_total += v;
      const double a = v > 0 ? 0.12 + 0.78 * static_cast<double>(v) / static_cast<double>(mx) : 0.0;
      const std::string rgb = i == j ? "22,163,74" : "220,38,38";
      o += "<td style=\"background:rgba(" + rgb + "," + fmt("%.2f", a) + ")" + (a > 0.55 ? ";color:#fff" : "") + "\">" +
           grouped(v) + "</td>";
    }
    o += "<td class=\"tot\">" + grouped(row_total) + "</td></tr>";
  }
  o += "</tbody></table></div>";
  const int64_t n = total(m), k = trace(m);
  o += "<div class=\"cap\">n = " + grouped(n) + " &middot; accuracy " + acc_with_ci(k, n) + "</div></div>";
  return o;
}

std::string Renderer::confusion_block(const std::string &title, const std::string &where, const Matrix &m,
                                      const std::vector<std::pair<int, int>> &lp, const std::string &missing) {
  if (r_.classes.size() <= eval::kConfusionTableMax && m.size() <= eval::kConfusionTableMax)
    return matrix_table(title, where, m, missing);
  std::string o = "<div class=\"cm\"><h3>" + title + "</h3><div class=\"where\">" + where + "</div>";
  if (lp.empty()) return o + not_run(missing, "") + "</div>";
  const auto cells = eval::confusion_cells(lp);
  std::vector<eval::ConfusionCell> off;
  int64_t n = 0, right = 0;
  for (const auto &c : cells) {
    n += c.count;
    if (c.truth == c.pred)
      right += c.count;
    else
      off.push_back(c);
  }
  std::stable_sort(off.begin(), off.end(), [](const auto &a, const auto &b) { return a.count > b.count; });
  o += "<p class=\"note\">" + grouped(static_cast<int64_t>(r_.classes.size())) +
       " classes: too many for a table; the JSON holds the whole matrix. The largest confusions:</p>";
  if (off.empty()) {
    o += "<p class=\"good\">No image is confused.</p>";
  } else {
    o += "<div class=\"scroll\"><table class=\"data topconf\"><thead><tr><th>True</th><th>Predicted</th><th "
         "class=\"r\">Images</th></tr></thead><tbody>";
    for (size_t i = 0; i < std::min<size_t>(off.size(), 10); ++i)
      o += "<tr><td>" + cls(off[i].truth) + "</td><td>" + cls(off[i].pred) + "</td><td class=\"r\">" + grouped(off[i].count) +
           "</td></tr>";
    o += "</tbody></table></div>";
    if (off.size() > 10) o += "<p class=\"note\">and " + grouped(static_cast<int64_t>(off.size() - 10)) + " more confused pairs.</p>";
  }
  return o + "<div class=\"cap\">n = " + grouped(n) + " &middot; accuracy " + acc_with_ci(right, n) + "</div></div>";
}

std::string Renderer::header() {
  const json &p = r_.pipeline.j;
  std::string sub = "Run folder <code>" + esc(r_.dir) + "</code>";
  if (!str(p, "started").empty()) sub += " &middot; started " + esc(str(p, "started"));
  if (!str(p, "version").empty()) sub += " &middot; qparity " + esc(str(p, "version"));
  return "<header><div class=\"brand\">qparity</div><h1>INT8 deployment validation report</h1><p class=\"sub\">" + sub +
         "</p></header>";
}

std::string Renderer::summary() {
  const Equivalence &e = r_.eq;
  std::string cls_name = "none", big = "NO VERDICT", line;
  if (e.verdict == "EQUIVALENT") {
    cls_name = "ok";
    big = "EQUIVALENT";
  } else if (e.verdict == "NOT EQUIVALENT") {
    cls_name = "fail";
    big = "NOT EQUIVALENT";
  } else if (!e.verdict.empty()) {
    big = esc(e.verdict);
  }
  const std::string target = str(at(r_.device.j, "device"), "target", str(r_.pipeline.j, "device"));
  if (e.available && e.n > 0) {
    line = grouped(e.decision_matches) + " of " + grouped(e.n) + " decisions match between the host and the device" +
           (target.empty() ? "" : " (" + esc(target) + ")");
    if (e.bitexact_outputs >= 0)
      line += " &middot; " + grouped(e.bitexact_outputs) + "/" + grouped(e.n) + " int8 outputs bit-exact";
    if (std::isfinite(e.upper95)) line += " &middot; mismatch rate &lt; " + pct(e.upper95, 1) + " (95% confidence)";
    if (e.unmatched > 0) line += " &middot; " + grouped(e.unmatched) + " device images have no host result";
  } else {
    line = "The device stage has not run: no device.json or verdict.json in the run folder.";
  }
  std::string o = "<section id=\"summary\"><div class=\"verdict " + cls_name +
                  "\"><div class=\"vlabel\">Decision equivalence</div>"
                  "<div class=\"vbig\">" +
                  big + "</div><div class=\"vline\">" + line + "</div></div><div class=\"cards\">";
  auto card = [&](const std::string &label, const std::string &value, const std::string &note) {
    o += "<div class=\"card\"><div class=\"cl\">" + label + "</div><div class=\"cv\">" + value + "</div><div class=\"cn\">" +
         note + "</div></div>";
  };
  auto acc_card = [&](const std::string &label, const Artifact &a) {
    if (!a.ok) return card(label, "&ndash;", "not run");
    const json &ci = at(a.j, "accuracy_ci95");
    std::string note = "n = " + grouped(inum(a.j, "n"));
    if (ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number())
      note += " &middot; 95% CI " + pct(ci[0].get<double>(), 1) + "&ndash;" + pct(ci[1].get<double>(), 1);
    card(label, pct(num(a.j, "accuracy")), note);
  };
  acc_card("FP32 accuracy &middot; host, full test set", r_.fp32);
  acc_card("INT8 accuracy &middot; host, full test set", r_.int8);
  if (!e.device_cm.empty())
    card("INT8 accuracy &middot; device subset",
         pct(static_cast<double>(trace(e.device_cm)) / static_cast<double>(std::max<int64_t>(1, total(e.device_cm)))),
         grouped(trace(e.device_cm)) + "/" + grouped(total(e.device_cm)) + " correct");
  else
    card("INT8 accuracy &middot; device subset", "&ndash;", "not run");
  if (r_.fi.available)
    card("FP32 &harr; INT8 agreement", pct(r_.fi.agreement),
         grouped(static_cast<int64_t>(r_.fi.flips.size())) + " flipped of " + grouped(r_.fi.n));
  else
    card("FP32 &harr; INT8 agreement", "&ndash;", "not run");
  const ModelFacts &f = r_.fp32_model, &q = r_.int8_model;
  if (f.file_bytes > 0 && q.file_bytes > 0)
    card("INT8 model, smaller by", fmt("%.2f&times;", static_cast<double>(f.file_bytes) / static_cast<double>(q.file_bytes)),
         bytes_text(f.file_bytes) + " &rarr; " + bytes_text(q.file_bytes));
  else
    card("Model size", "&ndash;", "a model file is missing");
  const json &est = at(at(r_.device.j, "device"), "est_ms");
  if (std::isfinite(num(est, "240")))
    card("Latency estimate", fmt("%.2f ms", num(est, "240")),
         "at 240 MHz &middot; the seed measured " + fmt("%.2f ms", kSeedEsp32Ms));
  else
    card("Latency estimate", "&ndash;", "not run");
  return o + "</div></section>";
}

std::string Renderer::pipeline() {
  std::string o = "<section id=\"pipeline\"><h2>Pipeline and model</h2>";
  const ModelFacts &f = r_.fp32_model, &q = r_.int8_model;
  const json &p = r_.pipeline.j;
  o += "<div class=\"cols\"><div><table class=\"kv\">";
  auto kv = [&](const std::string &k, const std::string &v) { o += "<tr><th>" + k + "</th><td>" + v + "</td></tr>"; };
  const std::string arch = !f.arch.empty() ? f.arch : str(p, "arch");
  kv("Architecture", arch.empty() ? "&ndash;" : "<code>" + esc(arch) + "</code>");
  if (!str(p, "int8_model").empty())
    kv("Model", "the given INT8 model <code>" + esc(str(p, "int8_model")) +
                    "</code>, validated as it is: nothing trained or quantized here (FP32 sections: not run)");
  const std::string input = !f.input.empty() ? f.input : q.input;  // HxWxC
  kv("Input", input.empty() ? "&ndash;" : esc(input) + (input.ends_with("x1") ? " luma" : " RGB"));
  kv(
      "Classes", r_.classes.empty() ? "&ndash;" : [&] {
        std::string s;
        for (size_t i = 0; i < r_.classes.size(); ++i) s += (i ? ", " : "") + esc(r_.classes[i]);
        return s;
      }());
  kv("Dataset", "train " + grouped(r_.train_count) + " &middot; test " + grouped(r_.test_count) + " images" +
                    (at(p, "synth").is_boolean() && at(p, "synth").get<bool>() ? " (built-in synthetic set)" : ""));
  kv("Parameters", grouped(f.params));
  kv("MACs per inference", grouped(f.macs));
  kv("FP32 model", f.ok ? bytes_text(f.file_bytes) + " file &middot; " + bytes_text(f.param_bytes) + " of parameters"
                        : (f.present ? "<span class=\"badtext\">unreadable: " + esc(f.error) + "</span>" : "not run"));
  kv("INT8 model", q.ok ? bytes_text(q.file_bytes) + " file &middot; " + bytes_text(q.param_bytes) +
                              " of parameters (int8 weights, int32 biases)"
                        : (q.present ? "<span class=\"badtext\">unreadable: " + esc(q.error) + "</span>" : "not run"));
  if (f.file_bytes > 0 && q.file_bytes > 0) {
    const double c = static_cast<double>(f.file_bytes) / static_cast<double>(q.file_bytes);
    std::string v = fmt("%.2f&times; smaller file", c) + " (" + fmt("%.0f%%", 100.0 * (1.0 - 1.0 / c)) + " reduction)";
    if (f.param_bytes > 0 && q.param_bytes > 0)
      v += " &middot; parameters " + fmt("%.2f&times;", static_cast<double>(f.param_bytes) / static_cast<double>(q.param_bytes));
    kv("Compression", v);
  }
  o += "</table></div><div>";
  const json &stages = at(p, "stages");
  if (!r_.pipeline.present) {
    o += not_run("No <code>pipeline.json</code>: stage timings unknown.", "Run <code>qparity pipeline --out RUN</code>.");
  } else if (!r_.pipeline.ok) {
    o += unreadable(r_.pipeline);
  } else if (stages.is_array() && !stages.empty()) {
    double tot = 0, mx = 0;
    for (const auto &s : stages)
      if (std::isfinite(num(s, "seconds")) && tri(s, "skipped") != 1) {
        tot += num(s, "seconds");
        mx = std::max(mx, num(s, "seconds"));
      }
    o += "<table class=\"stages\"><thead><tr><th>Stage</th><th class=\"r\">Seconds</th><th></th></tr></thead><tbody>";
    for (const auto &s : stages) {
      const bool skipped = tri(s, "skipped") == 1;
      const double sec = num(s, "seconds");
      const double w = mx > 0 && std::isfinite(sec) ? 100.0 * sec / mx : 0;
      // The report stage is still running while it draws this table: its time is written to
      // pipeline.json and summary.json ("report") once the page is done.
      const bool self = str(s, "name") == "report" && !(sec > 0);
      if (self) {
        o += "<tr><td>report</td><td class=\"r\">&ndash;</td><td class=\"barcell\"><span class=\"tag\">this page: its time is "
             "recorded in pipeline.json and summary.json once written</span></td></tr>";
        continue;
      }
      o += "<tr" + std::string(skipped ? " class=\"skipped\"" : "") + "><td>" + esc(str(s, "name")) + "</td><td class=\"r\">" +
           number(sec, "%.2f") + "</td><td class=\"barcell\">" +
           (skipped ? "<span class=\"tag\">up to date, skipped</span>"
                    : "<div class=\"hbar\" style=\"width:" + fmt("%.1f", w) + "%\"></div>") +
           "</td></tr>";
    }
    o += "<tr class=\"sum\"><td>total</td><td class=\"r\">" + fmt("%.2f", tot) + "</td><td></td></tr></tbody></table>";
  } else {
    o += not_run("<code>pipeline.json</code> lists no stages.", "");
  }
  return o + "</div></div></section>";
}

std::string Renderer::matrices() {
  std::string o =
      "<section id=\"matrices\"><h2>Confusion matrices</h2><p class=\"lead\">Rows are the true class, columns the "
      "prediction; green cells are correct decisions, red cells errors, darker means more images.</p><div class=\"cms\">";
  const bool big = r_.classes.size() > eval::kConfusionTableMax;
  o += confusion_block(
      "Full test set &middot; host INT8", "every test image, desktop integer runtime",
      r_.int8.ok && !big ? matrix(at(r_.int8.j, "confusion")) : Matrix{},
      r_.int8.ok && big ? label_pred_of(at(r_.int8.j, "images")) : std::vector<std::pair<int, int>>{},
      r_.int8.present ? "<code>int8-host-results.json</code> is unreadable." : "No <code>int8-host-results.json</code>.");
  const std::string subset_n = r_.eq.available ? grouped(r_.eq.n) + "-image subset" : "subset";
  o += confusion_block("Subset &middot; host INT8", "the " + subset_n + ", desktop integer runtime", r_.eq.host_cm, r_.eq.host_lp,
                       r_.eq.available ? "No host results for the subset (<code>int8-host-results.json</code> missing)."
                                       : "No device stage (<code>device.json</code>/<code>verdict.json</code>).");
  o += confusion_block(
      "Subset &middot; device INT8",
      "the same images on " + esc(str(at(r_.device.j, "device"), "target", str(r_.pipeline.j, "device", "the device"))),
      r_.eq.device_cm, r_.eq.device_lp, "No device stage (<code>device.json</code>/<code>verdict.json</code>).");
  o += "</div>";
  if (big && !r_.eq.host_lp.empty() && !r_.eq.device_lp.empty())
    o += eval::confusion_cells(r_.eq.host_lp) == eval::confusion_cells(r_.eq.device_lp)
             ? "<p class=\"good\">&check; The subset's matrices on the host and on the device are identical.</p>"
             : "<p class=\"badtext\">&cross; The subset's matrices on the host and on the device differ.</p>";
  else if (!r_.eq.host_cm.empty() && !r_.eq.device_cm.empty())
    o += r_.eq.host_cm == r_.eq.device_cm
             ? "<p class=\"good\">&check; The subset's matrices on the host and on the device are identical.</p>"
             : "<p class=\"badtext\">&cross; The subset's matrices on the host and on the device differ.</p>";
  if (r_.fp32.ok && !big && !matrix(at(r_.fp32.j, "confusion")).empty())
    o += "<details><summary>FP32 full test set matrix (host)</summary><div class=\"cms\">" +
         matrix_table("Full test set &middot; host FP32", "the floating-point model", matrix(at(r_.fp32.j, "confusion")), "") +
         "</div></details>";
  return o + "</section>";
}

std::string Renderer::equivalence() {
  const Equivalence &e = r_.eq;
  std::string o = "<section id=\"equivalence\"><h2>Decision equivalence</h2>";
  if (!e.available) {
    if (r_.verdict.present && !r_.verdict.ok) o += unreadable(r_.verdict);
    if (r_.device.present && !r_.device.ok) o += unreadable(r_.device);
    return o +
           not_run("The INT8 model has not been run on the device, so there is nothing to compare.",
                   "Run <code>qparity device run</code> and <code>qparity verify</code>, or the whole <code>qparity "
                   "pipeline</code>.") +
           "</section>";
  }
  if (e.n > 0 && e.decision_matches >= 0) {
    const int64_t k = e.n - e.decision_matches;
    o += "<p class=\"statement\"><b>" + grouped(k) + " mismatch" + (k == 1 ? "" : "es") + " in " + grouped(e.n) + " images</b>";
    if (std::isfinite(e.upper95))
      o += ": the device's mismatch rate is below <b>" + pct(e.upper95, 1) +
           "</b> with 95% confidence (one-sided Clopper&ndash;Pearson bound).";
    o += "</p>";
  }
  o += "<table class=\"kv\">";
  auto kv = [&](const std::string &k, const std::string &v) { o += "<tr><th>" + k + "</th><td>" + v + "</td></tr>"; };
  kv("Verdict", e.verdict.empty() ? "undecided"
                                  : "<b class=\"" + std::string(e.verdict == "EQUIVALENT" ? "good" : "badtext") + "\">" +
                                        esc(e.verdict) + "</b>");
  kv("Decisions matching", e.decision_matches >= 0 ? grouped(e.decision_matches) + " / " + grouped(e.n) : "&ndash;");
  kv("Bit-exact int8 outputs", e.bitexact_outputs >= 0 ? grouped(e.bitexact_outputs) + " / " + grouped(e.n) +
                                                             (e.bitexact == 1 ? " &mdash; every output vector identical" : "")
                                                       : "&ndash; (scores not available)");
  if (e.ties >= 0)
    kv("Ties for the top score", grouped(e.ties) + " / " + grouped(e.n) +
                                     (e.ties > 0 ? " &mdash; margin 0: decided for the first tied class in class order, on the "
                                                   "host and the device alike"
                                                 : ""));
  if (!e.host_cm.empty()) kv("Subset accuracy, host", acc_with_ci(trace(e.host_cm), total(e.host_cm)));
  if (!e.device_cm.empty()) kv("Subset accuracy, device", acc_with_ci(trace(e.device_cm), total(e.device_cm)));
  if (r_.int8.ok)
    kv("Full test set accuracy, host",
       acc_with_ci(std::llround(num(r_.int8.j, "accuracy", 0) * static_cast<double>(inum(r_.int8.j, "n", 0))),
                   inum(r_.int8.j, "n", 0)));
  kv("Source", esc(e.source));
  o += "</table>";
  if (e.unmatched > 0)
    o += "<p class=\"badtext\">" + grouped(e.unmatched) +
         " device image(s) have no host result with the same sha256: "
         "the device ran images the host did not.</p>";
  if (!e.mismatches.empty()) {
    o += "<h3>Mismatched images</h3><div class=\"gallery\">";
    for (const auto &row : e.rows)
      if (row.has_host && row.host_pred != row.device_pred)
        o += "<figure>" + thumb(row.file, row.sha256, "big") + "<figcaption title=\"" + esc(row.file) + "\">" + fname(row.file) +
             "<br>true " + cls(row.label) + " &middot; host " + cls(row.host_pred) + " &middot; device " + cls(row.device_pred) +
             "</figcaption></figure>";
    o += "</div>";
  }
  if (e.triage.is_array() && !e.triage.empty()) {
    o += "<h3>Triage: first diverging layer</h3><div class=\"scroll\"><table class=\"data\"><thead><tr><th>Image</th><th>Layer</th><th>Name</th>"
         "<th class=\"r\">Max |diff|</th><th class=\"r\">First index</th><th class=\"r\">Differing</th></tr></thead><tbody>";
    for (const auto &t : e.triage)
      o += "<tr><td>" + esc(str(t, "file")) + "</td><td>" + esc(str(t, "layer")) + "</td><td>" + esc(str(t, "layer_name")) +
           "</td><td class=\"r\">" + esc(str(t, "max_abs_diff")) + "</td><td class=\"r\">" + esc(str(t, "first_index")) +
           "</td><td class=\"r\">" + esc(str(t, "differing")) + " / " + esc(str(t, "size")) + "</td></tr>";
    o += "</tbody></table></div>";
  }
  return o + "</section>";
}

std::string Renderer::device_log() {
  const Equivalence &e = r_.eq;
  std::string o = "<section id=\"devicelog\"><h2>Device log</h2>";
  if (e.rows.empty())
    return o + not_run("No per-image device results.", "Run the device stage: <code>qparity device run</code>.") + "</section>";
  const json &dev = at(r_.device.j, "device"), &sub = at(r_.device.j, "subset");
  std::string info;
  if (!str(dev, "target").empty()) info += "target <b>" + esc(str(dev, "target")) + "</b>";
  if (!str(dev, "port").empty()) info += " &middot; port <code>" + esc(str(dev, "port")) + "</code>";
  if (sub.is_object() && inum(sub, "n") >= 0 && inum(sub, "of") >= 0)
    info += " &middot; subset of " + grouped(inum(sub, "n")) + " from " + grouped(inum(sub, "of")) + " test images";
  if (sub.is_object() && !str(sub, "seed").empty()) info += " &middot; subset seed " + esc(str(sub, "seed"));
  const std::string mh = str(dev, "model_hash");
  if (!mh.empty() && !r_.int8_model.sha256.empty())
    info +=
        mh == r_.int8_model.sha256 || r_.int8_model.sha256.rfind(mh, 0) == 0
            ? " &middot; <span class=\"good\">firmware model hash matches int8.onnx</span>"
            : " &middot; <span class=\"badtext\">firmware model hash " + esc(mh.substr(0, 16)) + " differs from int8.onnx</span>";
  if (!info.empty()) o += "<p>" + info + "</p>";
  bool any_time = false, any_cycles = false;
  for (const auto &row : e.rows) {
    any_time |= std::isfinite(row.micros) && row.micros > 0;
    any_cycles |= std::isfinite(row.cycles) && row.cycles > 0;
  }
  // An emulated board has no clock worth reporting: its time is the instruction count at a nominal
  // clock, an estimate. Only a real board's time is a measurement.
  const bool emulated = tri(dev, "emulated") == 1 || str(dev, "port").rfind("qemu-", 0) == 0 ||
                        (tri(dev, "emulated") < 0 && str(dev, "target").rfind("qemu-", 0) == 0);
  o +=
      "<div class=\"scroll\"><table class=\"data log\"><thead><tr><th class=\"r\">#</th><th></th><th>File</th><th>True</th>"
      "<th>Device</th><th>Host</th><th class=\"r\">Conf</th>";
  if (any_time) o += emulated ? "<th class=\"r\" title=\"estimated from the instruction count\">Time (est.)</th>" : "<th class=\"r\">Time</th>";
  if (any_cycles) o += "<th class=\"r\">Instructions</th>";
  o += "<th>Correct</th><th>= host</th><th>Bit-exact</th></tr></thead><tbody>";
  const size_t n = e.rows.size();
  for (size_t i = 0; i < n; ++i) {
    const SubsetRow &row = e.rows[i];
    const bool correct = row.device_pred == row.label && row.label >= 0;
    const bool match = row.has_host && row.host_pred == row.device_pred;
    o += "<tr" + std::string(row.has_host && !match ? " class=\"mis\"" : "") + "><td class=\"r\">" + std::to_string(i + 1) + "/" +
         std::to_string(n) + "</td><td>" + thumb(row.file, row.sha256) + "</td><td class=\"file\">" + esc(row.file) +
         "</td><td>" + cls(row.label) + "</td><td>" + cls(row.device_pred) + "</td><td>" +
         (row.has_host ? cls(row.host_pred) : "&ndash;") + "</td><td class=\"r\">" + number(row.conf, "%.4f") +
         (row.margin == 0 ? " <span class=\"tag\" title=\"two classes share the top int8 score; the first of them in class "
                            "order is the decision\">tie</span>"
                          : "") +
         "</td>";
    if (any_time)
      o += "<td class=\"r\">" +
           (std::isfinite(row.micros) ? fmt("%.2f ms", row.micros / 1000.0) + (emulated ? " (est.)" : "") : "&ndash;") + "</td>";
    if (any_cycles)
      o += "<td class=\"r\">" + (std::isfinite(row.cycles) ? grouped(std::llround(row.cycles)) : "&ndash;") + "</td>";
    o += std::string("<td class=\"c\">") +
         (correct ? "<span class=\"good\">&check;</span>" : "<span class=\"badtext\">&cross;</span>") + "</td><td class=\"c\">" +
         (!row.has_host ? "&ndash;"
          : match       ? "<span class=\"good\">&check;</span>"
                        : "<span class=\"badtext\">&cross;</span>") +
         "</td><td class=\"c\">" +
         (row.bitexact < 0 ? "&ndash;"
          : row.bitexact   ? "<span class=\"good\">&check;</span>"
                           : "<span class=\"badtext\">&cross;</span>") +
         "</td></tr>";
  }
  o += std::string("</tbody></table></div><p class=\"note\">&check;/&cross; under <i>Correct</i> compare the device's decision with the true label "
       "(as in "
       "the seed's log); <i>= host</i> compares it with the host's decision on the same image, which is what equivalence means. "
       "Confidence is ") + esc(r_.output.conf_rule) + "; the model outputs " +
       (r_.output.logits ? "logits" : "softmax probabilities") + ", margins are " + esc(r_.output.margin_unit) +
       "; <i>tie</i>: two classes share the top int8 score (margin 0) and the first of them in class order is the decision, on "
       "the host and the device alike." +
       (any_time ? emulated ? " <i>Time (est.)</i> is an estimate: the emulated board's instruction count at a nominal 160 MHz, "
                              "not a measurement."
                            : " <i>Time</i> is measured on the board."
                 : "") +
       "</p>";
  return o + "</section>";
}

std::string Renderer::fp32_int8() {
  const Fp32VsInt8 &f = r_.fi;
  std::string o = "<section id=\"fp32int8\"><h2>FP32 &harr; INT8</h2>";
  if (!f.available)
    return o +
           not_run("Needs both <code>fp32-results.json</code> and <code>int8-host-results.json</code>.",
                   "Evaluate both models on the test set (<code>qparity eval</code>).") +
           "</section>";
  o += "<p class=\"statement\">The INT8 model makes the FP32 model's decision on <b>" + grouped(f.agree) + " of " + grouped(f.n) +
       "</b> test images (" + pct(f.agreement) + " agreement); <b>" + grouped(static_cast<int64_t>(f.flips.size())) +
       "</b> flipped" + [&] {
         int64_t t = 0;
         for (const auto &x : f.flips) t += x.margin == 0;
         return t > 0 ? ", " + grouped(t) + " of them INT8 ties (margin 0, decided for the first tied class)" : std::string();
       }() + ".</p>";
  o += "<table class=\"kv\">";
  if (f.only_fp32 >= 0)
    o += "<tr><th>Right only in FP32</th><td>" + grouped(f.only_fp32) + "</td></tr><tr><th>Right only in INT8</th><td>" +
         grouped(f.only_int8) + "</td></tr>";
  if (std::isfinite(f.mcnemar_p))
    o += "<tr><th>McNemar exact p</th><td>" + fmt("%.4g", f.mcnemar_p) +
         (f.mcnemar_p >= 0.05 ? " &mdash; no significant accuracy difference at the 5% level"
                              : " &mdash; the accuracies differ significantly at the 5% level") +
         "</td></tr>";
  o += "<tr><th>Source</th><td>" + esc(f.source) + "</td></tr></table>";
  if (!f.flips.empty()) {
    const size_t shown = std::min<size_t>(f.flips.size(), 60);
    o += "<h3>Flipped images</h3><div class=\"gallery\">";
    for (size_t i = 0; i < shown; ++i) {
      const Flip &x = f.flips[i];
      o += "<figure>" + thumb(x.file, x.sha256, "big") + "<figcaption title=\"" + esc(x.file) + "\">" + fname(x.file) +
           "<br>true " + cls(x.label) + "<br>FP32 " + cls(x.fp32_pred) + " &rarr; INT8 " + cls(x.int8_pred) +
           (x.margin == 0 ? "<br>margin 0: a tie, the first tied class"
            : x.margin > 0 ? "<br>margin " + std::to_string(x.margin) + " <span title=\"" + esc(r_.output.margin_unit) +
                                 "\">int8 steps</span>"
                           : "") +
           "</figcaption></figure>";
    }
    o += "</div>";
    if (shown < f.flips.size())
      o += "<p class=\"note\">and " + grouped(static_cast<int64_t>(f.flips.size() - shown)) + " more.</p>";
  }
  return o + "</section>";
}

std::string Renderer::inspection() {
  std::string o = "<section id=\"inspection\"><h2>Quantization inspection</h2>";
  if (!r_.inspection.present)
    return o + not_run("No <code>inspection.json</code>.", "Run <code>qparity inspect</code>.") + "</section>";
  if (!r_.inspection.ok) return o + unreadable(r_.inspection) + "</section>";
  const json &in = r_.inspection.j;
  o += "<p>Over " + grouped(inum(in, "n_images")) + " test images";
  if (std::isfinite(num(in, "int8_agreement"))) o += " &middot; INT8 agreement with FP32 " + pct(num(in, "int8_agreement"));
  if (std::isfinite(num(in, "simulated_all_agreement")))
    o += " &middot; all layers simulated " + pct(num(in, "simulated_all_agreement"));
  o += "</p>";
  if (at(in, "has_fp32").is_boolean() && !at(in, "has_fp32").get<bool>())
    o += not_run("The INT8 model was inspected alone (no FP32 model): observed ranges are its own dequantized outputs; "
                 "clipping, SQNR, per-layer sensitivity and FP32 agreement are not measured.",
                 "Pass the FP32 model too: <code>qparity inspect --fp32 FP32.onnx</code>.");
  const json &layers = at(in, "layers");
  // One label per node, as verify's triage and the firmware name it (quant::format_layer_label): "3 Conv2D+relu",
  // "7 Add+relu <- 3,6" for a node with inputs other than the layer before it.
  std::map<int64_t, std::string> label_of;
  auto label = [](const json &l) {
    if (!str(l, "label").empty()) return str(l, "label");
    std::vector<int> ins;
    if (at(l, "inputs").is_array())
      for (const auto &x : at(l, "inputs")) ins.push_back(static_cast<int>(inum(x, "layer", -1)));
    const int64_t index = inum(l, "index");
    if (index < 0) return str(l, "name");
    return quant::format_layer_label(static_cast<int>(index), str(l, "op"), str(l, "activation"), ins, str(l, "tensor"));
  };
  if (layers.is_array())
    for (const auto &l : layers) label_of[inum(l, "index")] = label(l);
  std::vector<Bar> sqnr;
  if (layers.is_array() && !layers.empty()) {
    auto range = [](const json &v) {
      if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) return std::string("&ndash;");
      return fmt("%.3g", v[0].get<double>()) + " &hellip; " + fmt("%.3g", v[1].get<double>());
    };
    auto qp = [](const json &v) {
      return v.is_object() ? number(num(v, "scale"), "%.4g") + " / " + esc(str(v, "zero_point", "&ndash;"))
                           : std::string("&ndash;");
    };
    o += "<div class=\"scroll\"><table class=\"data insp\"><thead><tr><th>Node</th><th>FP32 layer</th><th>Scale / "
         "zp: in &rarr; out</th>"
         "<th>Weight scales</th><th>Weights</th><th>Calibrated range</th><th>Observed range</th>"
         "<th class=\"r\">Clipped</th><th class=\"r\">Saturated</th><th class=\"r\">SQNR</th></tr></thead><tbody>";
    for (const auto &l : layers) {
      const json &ws = at(l, "weight_scale");
      std::string wrange = "&ndash;";
      const json &pc = at(l, "weight_range_per_channel");
      if (pc.is_array() && !pc.empty()) {
        double lo = 1e300, hi = -1e300;
        for (const auto &c : pc)
          if (c.is_array() && c.size() == 2 && c[0].is_number() && c[1].is_number()) {
            lo = std::min(lo, c[0].get<double>());
            hi = std::max(hi, c[1].get<double>());
          }
        if (lo <= hi) wrange = std::to_string(pc.size()) + " ch, " + fmt("%.3g", lo) + " &hellip; " + fmt("%.3g", hi);
      }
      const double clipped = num(l, "clipped_share"), sat = num(l, "saturated_share"), db = num(l, "sqnr_db");
      // A softmax output at its top step is probability ~1.0, the softmax's own ceiling: expected, not a
      // clipped range (also for inspection.json files written before "saturation" existed).
      const bool softmax = str(l, "saturation") == "softmax_ceiling" || str(l, "op") == "Softmax";
      const std::string clipped_cell =
          softmax ? "<td class=\"r\">&ndash;</td>"
                  : "<td class=\"r" + std::string(clipped > 0.01 ? " warn" : "") + "\">" + pct(clipped, 2) + "</td>";
      const std::string sat_cell =
          softmax ? "<td class=\"r\">" + pct(sat, 2) +
                        " <span class=\"note\">saturated at 1.0 (expected for softmax)</span></td>"
                  : "<td class=\"r\">" + pct(sat, 2) + "</td>";
      // A node with two or more inputs (Add, Concat) shows each input's quantization, named by its producer.
      std::string in_q = qp(at(l, "input"));
      const json &ins = at(l, "inputs");
      if (ins.is_array() && ins.size() >= 2) {
        in_q.clear();
        for (size_t k = 0; k < ins.size(); ++k) {
          const int64_t from = inum(ins[k], "layer", -2);
          in_q += std::string(k ? " + " : "") + (from == -1 ? std::string("in") : from >= 0 ? std::to_string(from) : "?") + ": " +
                  qp(ins[k]);
        }
      }
      const int64_t fp32_layer = inum(l, "fp32_index", -1);  // the FP32 graph's layer whose output this node's is
      o += "<tr><td>" + esc(label(l)) + "</td><td>" + (fp32_layer >= 0 ? std::to_string(fp32_layer) : std::string("&ndash;")) +
           "</td><td>" + in_q + " &rarr; " +
           qp(at(l, "output")) + "</td><td>" +
           (ws.is_object() ? number(num(ws, "min"), "%.3g") + " &hellip; " + number(num(ws, "max"), "%.3g") : "&ndash;") +
           "</td><td>" + wrange + "</td><td>" + range(at(l, "calibrated_range")) + "</td><td>" + range(at(l, "observed_range")) +
           "</td>" + clipped_cell + sat_cell + "<td class=\"r\">" + (std::isfinite(db) ? fmt("%.1f dB", db) : "&ndash;") +
           "</td></tr>";
      if (std::isfinite(db))
        sqnr.push_back({label(l), db, db < 20 ? "#dc2626" : db < 30 ? "#d97706" : "#2563eb", fmt("%.1f dB", db)});
    }
    o += "</tbody></table></div>";
  }
  o += "<div class=\"charts\">";
  if (!sqnr.empty()) o += "<div>" + svg_hbar_chart("SQNR per layer (INT8 vs FP32 output)", sqnr, 0, 0, 520) + "</div>";
  const json &sens = at(in, "sensitivity");
  if (sens.is_array() && !sens.empty()) {
    std::vector<Bar> bars;
    double lo = 1;
    for (const auto &s : sens) {
      const double a = num(s, "agreement");
      if (std::isfinite(a)) lo = std::min(lo, a);
      const auto known = label_of.find(inum(s, "layer"));
      bars.push_back({known != label_of.end() ? known->second : str(s, "name", str(s, "layer")), 100.0 * a, "#7c3aed",
                      pct(a, 2) + (inum(s, "flipped") >= 0 ? " (" + std::to_string(inum(s, "flipped")) + " flipped)" : "")});
    }
    const double axis_lo = std::max(0.0, std::floor(100.0 * lo - 1.0));
    o +=
        "<div>" + svg_hbar_chart("Sensitivity: agreement with FP32, one layer quantized (%)", bars, axis_lo, 100, 520) + "</div>";
  }
  const json &hist = at(at(in, "margins"), "histogram");
  if (hist.is_array() && !hist.empty()) {
    std::vector<Bar> cols;
    for (const auto &h : hist) cols.push_back({str(h, "margin"), num(h, "count", 0), "#0891b2", ""});
    o += "<div>" + svg_column_chart("Decision margins (top-1 minus top-2, " + r_.output.margin_unit + ")", cols, 520, 200) +
         "</div>";
  }
  o += "</div>";
  const json &closest = at(at(in, "margins"), "closest");
  if (closest.is_array() && !closest.empty()) {
    o += "<h3>Closest to a flip</h3><div class=\"gallery\">";
    size_t shown = 0;
    for (const auto &c : closest) {
      if (++shown > 24) break;
      o += "<figure>" + thumb(str(c, "file"), str(c, "sha256"), "big") + "<figcaption title=\"" + esc(str(c, "file")) + "\">" +
           fname(str(c, "file")) + "<br>true " + cls(static_cast<int>(inum(c, "label"))) + " &middot; INT8 " +
           cls(static_cast<int>(inum(c, "int8_pred"))) + "<br>margin " + esc(str(c, "margin", "?")) +
           (inum(c, "margin") == 0 ? ": a tie, the first tied class" : "") + "</figcaption></figure>";
    }
    o += "</div>";
  }
  return o + "</section>";
}

std::string Renderer::training() {
  std::string o = "<section id=\"training\"><h2>FP32 training</h2>";
  const TrainCurve &c = r_.curve;
  if (!c.present) return o + not_run("No <code>fp32.train.csv</code>.", "Train with <code>qparity train</code>.") + "</section>";
  if (c.rows.empty()) {
    std::vector<uint8_t> b(c.svg_file_bytes.begin(), c.svg_file_bytes.end());
    return o + "<img class=\"curve\" alt=\"training curves\" src=\"data:image/svg+xml;base64," + base64(b) + "\"></section>";
  }
  auto series = [&](const char *col, const char *name, const char *color, double scale) {
    Line s{name, color, {}};
    const int i = c.column(col);
    if (i >= 0)
      for (const auto &row : c.rows) s.y.push_back(row[static_cast<size_t>(i)] * scale);
    return s;
  };
  std::vector<Line> loss, acc;
  for (auto s : {series("train_loss", "train", "#2563eb", 1), series("val_loss", "validation", "#d97706", 1)})
    if (!s.y.empty()) loss.push_back(s);
  for (auto s : {series("train_acc", "train", "#2563eb", 100), series("val_acc", "validation", "#d97706", 100)})
    if (!s.y.empty()) acc.push_back(s);
  o += "<div class=\"charts two\"><div>" + svg_line_panel("Loss", "epoch", loss, 460, 240) + "</div><div>" +
       svg_line_panel("Accuracy (%)", "epoch", acc, 460, 240, 0, 100) + "</div></div>";
  const int sec = c.column("seconds");
  double seconds = 0;
  if (sec >= 0)
    for (const auto &row : c.rows) seconds += std::isfinite(row[static_cast<size_t>(sec)]) ? row[static_cast<size_t>(sec)] : 0;
  // The model that was exported (and quantized) is the best validation epoch's, not the last one's.
  const BestEpoch be = best_epoch(r_);
  o += "<p class=\"note\">" + grouped(static_cast<int64_t>(c.rows.size())) + " epochs" +
       (be.epoch > 0 ? " &middot; exported epoch " + grouped(be.epoch) + ": validation accuracy " + pct(be.val_acc) +
                           " <span class=\"ci\">(the best validation epoch; from " + esc(be.source) + ")</span>"
                     : "") +
       (sec >= 0 ? " &middot; " + fmt("%.1f s", seconds) + " training" : "") + "</p>";
  return o + "</section>";
}

std::string Renderer::footprint() {
  std::string o = "<section id=\"footprint\"><h2>Device footprint and latency</h2>";
  const json &fp = r_.footprint.j, &dev = at(r_.device.j, "device");
  if (!r_.footprint.ok && !r_.device.ok) {
    if (r_.footprint.present) o += unreadable(r_.footprint);
    return o +
           not_run("No <code>firmware/footprint.json</code> and no <code>device.json</code>.",
                   "Build the firmware with <code>qparity firmware</code>.") +
           "</section>";
  }
  auto used_bar = [&](const std::string &name, const std::vector<std::pair<std::string, int64_t>> &parts, int64_t budget) {
    int64_t used = 0;
    for (const auto &p : parts) used += std::max<int64_t>(0, p.second);
    const double denom = static_cast<double>(std::max(budget > 0 ? budget : used, int64_t{1}));
    std::string s = "<div class=\"budget\"><div class=\"bname\">" + name + "</div><div class=\"btrack\">";
    static const char *colors[] = {"#2563eb", "#7c3aed", "#0891b2", "#d97706"};
    for (size_t i = 0; i < parts.size(); ++i)
      if (parts[i].second > 0)
        s += "<div class=\"bseg\" style=\"width:" +
             fmt("%.2f", std::min(100.0, 100.0 * static_cast<double>(parts[i].second) / denom)) +
             "%;background:" + colors[i % 4] + "\" title=\"" + esc(parts[i].first) + "\"></div>";
    s += "</div><div class=\"bnum\">" + bytes_text(used) +
         (budget > 0 ? " of " + bytes_text(budget) + " (" + pct(static_cast<double>(used) / static_cast<double>(budget), 1) + ")"
                     : "") +
         "</div><div class=\"blegend\">";
    for (size_t i = 0; i < parts.size(); ++i)
      if (parts[i].second >= 0)
        s += "<span><i style=\"background:" + std::string(colors[i % 4]) + "\"></i>" + esc(parts[i].first) + " " +
             bytes_text(parts[i].second) + "</span>";
    return s + "</div></div>";
  };
  o += "<div class=\"cols\"><div>";
  if (r_.footprint.ok) {
    o += "<p>Target <b>" + esc(str(fp, "target", "?")) + "</b></p>";
    // Everything the ELF puts in flash / RAM: the named parts plus the rest (libc, tables, buffers).
    const int64_t flash = inum(fp, "flash_bytes"), code = inum(fp, "code_bytes"), weights = inum(fp, "weights_bytes");
    const int64_t ram = inum(fp, "ram_bytes"), arena_b = inum(fp, "arena_bytes"), stack_b = inum(fp, "stack_bytes");
    const int64_t flash_rest = flash > 0 && code >= 0 && weights >= 0 ? std::max<int64_t>(0, flash - code - weights) : -1;
    const int64_t ram_rest = ram > 0 && arena_b >= 0 && stack_b >= 0 ? std::max<int64_t>(0, ram - arena_b - stack_b) : -1;
    o += used_bar("Flash", {{"code", code}, {"weights", weights}, {"other read-only data", flash_rest > 0 ? flash_rest : -1}},
                  inum(fp, "flash_budget"));
    o += used_bar("RAM", {{"arena", arena_b}, {"stack", stack_b}, {"protocol buffers and other data", ram_rest}}, inum(fp, "ram_budget"));
    const int64_t arena = inum(fp, "arena_bytes"), naive = inum(fp, "naive_arena_bytes");
    if (arena > 0 && naive > 0)
      o += "<p class=\"note\">Planned activation arena " + bytes_text(arena) + " instead of " + bytes_text(naive) +
           " with one buffer per tensor (" + pct(1.0 - static_cast<double>(arena) / static_cast<double>(naive), 0) +
           " less).</p>";
  } else {
    o += r_.footprint.present ? unreadable(r_.footprint) : not_run("No <code>firmware/footprint.json</code>.", "");
    if (inum(dev, "flash_bytes") >= 0 || inum(dev, "arena_bytes") >= 0)
      o += "<table class=\"kv\"><tr><th>Flash</th><td>" + bytes_text(inum(dev, "flash_bytes")) +
           "</td></tr><tr><th>Code</th><td>" + bytes_text(inum(dev, "code_bytes")) + "</td></tr><tr><th>Arena</th><td>" +
           bytes_text(inum(dev, "arena_bytes")) + "</td></tr></table>";
  }
  o += "</div><div>";
  const json &est = at(dev, "est_ms");
  if (r_.device.ok && (inum(dev, "instructions_per_inference") >= 0 || est.is_object())) {
    o += "<table class=\"kv\"><tr><th>Instructions per inference</th><td>" + grouped(inum(dev, "instructions_per_inference")) +
         "</td></tr>";
    if (inum(dev, "clock_hz") > 0)
      o += "<tr><th>Emulated clock</th><td>" + fmt("%.0f MHz", static_cast<double>(inum(dev, "clock_hz")) / 1e6) + "</td></tr>";
    o += "</table>";
    std::vector<Bar> bars;
    for (const char *mhz : {"160", "240"})
      if (std::isfinite(num(est, mhz)))
        bars.push_back({std::string("estimate @ ") + mhz + " MHz", num(est, mhz), "#2563eb", fmt("%.2f ms", num(est, mhz))});
    bars.push_back({"seed, ESP32 measured", kSeedEsp32Ms, "#94a3b8", fmt("%.2f ms", kSeedEsp32Ms)});
    o += svg_hbar_chart("Latency per inference (ms)", bars, 0, 0, 480);
    o += "<p class=\"note\">Estimates assume one instruction per clock cycle on the target core; the seed's 39.68 ms was "
         "measured on an ESP32 board.</p>";
  } else {
    o += not_run("No latency figures: <code>device.json</code> has no instruction count.", "");
  }
  return o + "</div></div></section>";
}

std::string Renderer::reproduce() {
  std::string o = "<section id=\"reproduce\"><h2>Reproducibility</h2>";
  const json &p = r_.pipeline.j;
  if (!str(p, "command").empty()) o += "<pre class=\"cmd\">" + esc(str(p, "command")) + "</pre>";
  o += "<table class=\"kv\">";
  auto kv = [&](const std::string &k, const std::string &v) {
    if (!v.empty()) o += "<tr><th>" + k + "</th><td>" + v + "</td></tr>";
  };
  kv("qparity version", esc(str(p, "version")));
  kv("Started", esc(str(p, "started")));
  kv("Seed", esc(str(p, "seed")));
  kv("Architecture", esc(str(p, "arch")));
  kv("Data",
     str(p, "data").empty() ? "" : "<code>" + esc(str(p, "data")) + "</code>" + (tri(p, "synth") == 1 ? " (synthetic)" : ""));
  kv("Device", esc(str(p, "device")));
  kv("Subset", esc(str(p, "subset")));
  const json &sub = at(r_.device.j, "subset");
  if (sub.is_object()) kv("Subset seed", esc(str(sub, "seed")));
  const json &tools = at(p, "tools");
  if (tools.is_object())
    for (auto it = tools.begin(); it != tools.end(); ++it)
      kv("Tool: " + esc(it.key()), esc(it.value().is_string() ? it.value().get<std::string>() : it.value().dump()));
  for (const ModelFacts *m : {&r_.fp32_model, &r_.int8_model})
    if (!m->sha256.empty()) kv(esc(m->name) + " sha256", "<code>" + esc(m->sha256) + "</code>");
  for (const auto &[k, v] : r_.int8_model.metadata)
    if (k.rfind("qparity.quant.", 0) == 0) kv("INT8 " + esc(k.substr(14)), esc(v));
  o += "</table>";
  o += "<h3>Artifacts</h3><ul class=\"artifacts\">";
  for (const std::string name :
       {"pipeline.json", "fp32.onnx", "fp32.train.csv", "fp32-results.json", "int8.onnx", "int8-host-results.json",
        "firmware/footprint.json", "device.json", "verdict.json", "inspection.json"}) {
    const bool missing = std::find(r_.missing.begin(), r_.missing.end(), name) != r_.missing.end();
    bool bad = false;
    for (const auto &pr : r_.problems) bad |= pr.rfind(name + ":", 0) == 0;
    o += "<li class=\"" +
         std::string(missing ? "miss"
                     : bad   ? "bad"
                             : "have") +
         "\"><code>" + esc(name) + "</code> " +
         (missing ? "not run"
          : bad   ? "unreadable"
                  : "present") +
         "</li>";
  }
  o += "</ul>";
  if (!r_.problems.empty()) {
    o += "<ul class=\"problems\">";
    for (const auto &pr : r_.problems) o += "<li>" + esc(pr) + "</li>";
    o += "</ul>";
  }
  return o + "</section>";
}

const char *kCss = R"CSS(
:root{--ink:#0f172a;--mute:#64748b;--line:#e2e8f0;--bg:#f8fafc;--ok:#15803d;--bad:#b91c1c;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
header{padding:8px 0 4px}
.brand{font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:var(--accent);font-size:12px}
h1{font-size:26px;margin:2px 0 4px}
h2{font-size:19px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:16px 0 6px}
.sub{color:var(--mute);margin:0}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;margin:14px 0 18px;font-size:13px}
nav a{color:var(--accent);text-decoration:none}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:0 0 18px;break-inside:avoid-page}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
pre.cmd{background:#0f172a;color:#e2e8f0;padding:10px 14px;border-radius:8px;white-space:pre-wrap;word-break:break-all}
.verdict{border-radius:10px;padding:18px 22px;color:#fff;background:#64748b}
.verdict.ok{background:linear-gradient(135deg,#15803d,#16a34a)}
.verdict.fail{background:linear-gradient(135deg,#b91c1c,#dc2626)}
.vlabel{text-transform:uppercase;letter-spacing:.1em;font-size:12px;opacity:.85}
.vbig{font-size:44px;font-weight:800;letter-spacing:.02em;line-height:1.15}
.vline{font-size:15px;opacity:.95}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px;margin-top:14px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .cl{font-size:12px;color:var(--mute)}
.card .cv{font-size:21px;font-weight:700;white-space:nowrap}
.card .cn{font-size:12px;color:var(--mute)}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:22px}
table{border-collapse:collapse}
table.kv th{text-align:left;font-weight:600;color:#334155;padding:3px 14px 3px 0;vertical-align:top;white-space:nowrap}
table.kv td{padding:3px 0}
table.data,table.stages{width:100%;font-size:13px}
table.data th,table.stages th{text-align:left;border-bottom:2px solid var(--line);padding:5px 8px;color:#334155;white-space:nowrap}
table.data td,table.stages td{border-bottom:1px solid var(--line);padding:4px 8px;vertical-align:middle}
.r{text-align:right}.c{text-align:center}
td.file{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
tr.mis td{background:#fef2f2}
tr.skipped td{color:var(--mute)}
tr.sum td{font-weight:700;border-top:2px solid var(--line)}
td.barcell{width:45%}
.hbar{height:10px;border-radius:3px;background:var(--accent);min-width:2px}
.tag{font-size:11px;background:#f1f5f9;border-radius:4px;padding:1px 6px;color:var(--mute)}
.cms{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:18px}.cms>.cm{min-width:0}
.cm h3{margin:0}.cm .where{font-size:12px;color:var(--mute);margin-bottom:6px}
table.heat th,table.heat td{padding:7px 10px;text-align:center;border:1px solid #fff}
table.heat td{min-width:56px;font-weight:600;font-variant-numeric:tabular-nums;background:#f8fafc}
table.heat thead th{font-size:12px;color:#334155}
table.heat tbody th{text-align:right;font-size:12px;color:#334155}
table.heat th.corner{font-size:11px;color:var(--mute);font-weight:400}
table.heat .tot{color:var(--mute);font-weight:400;background:none}
.cap{font-size:12px;color:#334155;margin-top:6px}
.ci{color:var(--mute);font-size:12px}
.statement{font-size:16px}
.good{color:var(--ok)}.badtext{color:var(--bad)}.warn{color:#b45309;font-weight:600}
.note{font-size:12px;color:var(--mute)}
.lead{color:#334155;margin-top:-4px}
.notrun{border:1px dashed #cbd5e1;background:#f8fafc;border-radius:8px;padding:10px 14px;color:#475569}
.notrun.bad{border-color:#fca5a5;background:#fef2f2}
.notrun .how{display:block;font-size:12px;margin-top:2px}
img.th,span.th{width:32px;height:32px;image-rendering:pixelated;border-radius:3px;vertical-align:middle;display:inline-block}
img.th.big,span.th.big{width:72px;height:72px}
span.ph{background:#e2e8f0;color:#64748b;text-align:center;line-height:32px;font-weight:700}
span.ph.big{line-height:72px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.gallery figure{margin:0;width:132px;text-align:center;font-size:11px;border:1px solid var(--line);border-radius:8px;padding:6px}
.gallery figcaption{color:#334155;line-height:1.35}
.gallery .fn{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px;margin-top:12px}
.charts.two{grid-template-columns:1fr 1fr}
svg.chart{max-width:100%;height:auto;font-family:system-ui,sans-serif}
svg .ct{font-size:12px;font-weight:700;fill:#0f172a}svg .cl{font-size:11px;fill:#334155}svg .cv{font-size:11px;fill:#475569}
.scroll{overflow-x:auto}
table.insp{font-size:12px}table.insp th,table.insp td{padding:3px 5px;white-space:nowrap;font-variant-numeric:tabular-nums}
.budget{margin:10px 0 14px}
.bname{font-weight:600}
.btrack{display:flex;height:16px;background:#f1f5f9;border-radius:4px;overflow:hidden;margin:4px 0}
.bseg{height:100%}
.bnum{font-size:13px}
.blegend{font-size:12px;color:var(--mute);display:flex;gap:12px}
.blegend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
ul.artifacts{columns:2;list-style:none;padding:0;margin:0}
ul.artifacts li::before{content:"\25CF  ";}
ul.artifacts li.have::before{color:var(--ok)}ul.artifacts li.miss::before{color:#94a3b8}ul.artifacts li.bad::before{color:var(--bad)}
ul.artifacts li.miss{color:var(--mute)}
details summary{cursor:pointer;color:var(--accent);margin-top:10px}
footer{color:var(--mute);font-size:12px;text-align:center}
@media (max-width:800px){.cols{grid-template-columns:1fr}}
@media print{body{background:#fff}main{max-width:none;padding:0}nav{display:none}section{border:none;padding:8px 0;border-radius:0}
.cards{grid-template-columns:repeat(3,1fr)}.scroll{overflow:visible}details{display:block}details>*{display:block}
h2{break-after:avoid}tr,figure{break-inside:avoid}}
)CSS";

std::string Renderer::page() {
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
      "<title>qparity report &middot; ";
  o += esc(r_.eq.verdict.empty() ? "no verdict" : r_.eq.verdict) + "</title><style>" + kCss + "</style></head><body><main>";
  o += header();
  o += "<nav><a href=\"#summary\">Summary</a><a href=\"#pipeline\">Pipeline</a><a href=\"#matrices\">Confusion matrices</a>"
       "<a href=\"#equivalence\">Equivalence</a><a href=\"#devicelog\">Device log</a><a href=\"#fp32int8\">FP32 &harr; INT8</a>"
       "<a href=\"#inspection\">Quantization</a><a href=\"#training\">Training</a><a href=\"#footprint\">Footprint &amp; "
       "latency</a>"
       "<a href=\"#reproduce\">Reproducibility</a></nav>";
  using Part = std::string (Renderer::*)();
  const std::pair<const char *, Part> parts[] = {{"summary", &Renderer::summary},       {"pipeline", &Renderer::pipeline},
                                                 {"matrices", &Renderer::matrices},     {"equivalence", &Renderer::equivalence},
                                                 {"devicelog", &Renderer::device_log},  {"fp32int8", &Renderer::fp32_int8},
                                                 {"inspection", &Renderer::inspection}, {"training", &Renderer::training},
                                                 {"footprint", &Renderer::footprint},   {"reproduce", &Renderer::reproduce}};
  for (const auto &[id, part] : parts) {
    try {
      o += (this->*part)();
    } catch (const std::exception &e) {  // one odd artifact spoils one section, not the page
      o += "<section id=\"" + std::string(id) + "\"><div class=\"notrun bad\"><b>This section could not be drawn:</b> " +
           esc(e.what()) + "</div></section>";
    }
  }
  o +=
      "<footer>Written by <code>qparity report</code>. Self-contained: no scripts, no network; every image is embedded.</footer>";
  return o + "</main></body></html>\n";
}

}  // namespace

std::string render_html(const RunData &r) {
  return Renderer(r).page();
}

}  // namespace qp::report::detail
