// Device evaluation (see runner.h).
#include "device/runner.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/json_read.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "common/stats.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "device/client.h"
#include "device/connection.h"
#include "device/emulator.h"
#include "device/journal.h"
#include "device/subset.h"
#include "eval/evaluate.h"
#include "eval/results_io.h"
#include "firmware/firmware.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"

namespace qp::device {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A damaged footprint.json beside a firmware is a qp::Error naming it, not an escaping parse_error.
json_read::Source footprint_source(const fs::path &fp) {
  return {fp.string(), "delete the firmware folder " + fp.parent_path().string() + " (it is generated again)"};
}

// Generates and builds the firmware for an emulated board, reusing an up-to-date build.
std::string prepare_firmware(const RunOptions &o, const std::string &sha, json *footprint) {
  if (!o.firmware_elf.empty()) {
    if (!fs::is_regular_file(o.firmware_elf)) fail("firmware '" + o.firmware_elf + "' does not exist");
    const fs::path fp = fs::path(o.firmware_elf).parent_path() / "footprint.json";
    if (fs::is_regular_file(fp)) *footprint = json_read::parse_file(fp.string(), footprint_source(fp));
    return o.firmware_elf;
  }
  std::string dir = o.firmware_dir;
  if (dir.empty()) dir = (fs::path(o.out).parent_path() / ("firmware-" + o.port)).string();
  const fs::path elf = fs::path(dir) / "firmware.elf", fp = fs::path(dir) / "footprint.json", hdr = fs::path(dir) / "qp_model.h";
  if (fs::is_regular_file(elf) && fs::is_regular_file(fp) && fs::is_regular_file(hdr)) {
    std::ifstream in(hdr);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find(sha) != std::string::npos) {
      *footprint = json_read::parse_file(fp.string(), footprint_source(fp));
      return elf.string();
    }
  }
  firmware::FirmwareOptions fo;
  fo.model = o.model;
  fo.input = o.input;
  fo.target = o.port;
  fo.out = dir;
  fo.force = true;
  const auto r = firmware::make_firmware(fo);
  *footprint = r.footprint.to_json();
  return r.elf;
}

}  // namespace

Inference read_journal_entry(const nlohmann::json &entry, size_t classes, const std::string &journal_path,
                             const std::string &key) {
  const json_read::Source src{"journal " + journal_path,
                              "delete it or pass --fresh to start over (the journal's images are run again)"};
  const std::string where = "entry '" + key + "'";
  json_read::as_object(entry, src, where);
  Inference r;
  r.pred = static_cast<int>(json_read::to_int(entry, "pred", 0, static_cast<int64_t>(classes) - 1, src, where));
  for (int s : json_read::int8_scores(entry, "scores", classes, src, where)) r.scores.push_back(static_cast<int8_t>(s));
  r.cycles = json_read::to_uint(entry, "cycles", UINT64_MAX, src, where);
  r.micros = static_cast<uint32_t>(json_read::to_uint(entry, "micros", UINT32_MAX, src, where));
  return r;
}

nlohmann::ordered_json run_device(const RunOptions &o) {
  if (o.out.empty()) fail("--out is required", "name the device results file, e.g. --out device.json");
  if (fs::exists(o.out) && !o.force) fail("'" + o.out + "' already exists", "choose another --out, or pass --force to replace it");
  const fs::path out_dir = fs::path(o.out).parent_path();
  if (!out_dir.empty()) fs::create_directories(out_dir);
  const auto mf = quant::load_int8_model(o.model, o.input);
  const quant::QModel &m = mf.model;
  if (m.classes.empty())  // a .tflite without labels.txt: the names the firmware was generated with
    fail("'" + o.model + "' names no classes", "pass --classes (as to 'qparity firmware'), or put a labels.txt beside it");
  if (fs::is_directory(fs::path(o.data) / "test"))
    fail("'" + o.data + "' looks like a dataset root", "pass its test split: --data " + (fs::path(o.data) / "test").string());
  data::LoadOptions lo;
  lo.set_input(m.input.h, m.input.w, m.input.c);
  lo.classes = m.classes;
  lo.threads = o.threads;
  lo.skip_bad = o.skip_bad;
  const auto split = data::load_split(o.data, lo);
  const std::vector<size_t> subset = choose_subset(split, o.subset, o.seed);
  const size_t n = subset.size(), image_bytes = split.image_bytes();

  json subset_files = json::array();
  for (size_t i : subset) subset_files.push_back(split.samples[i].sha256);
  const std::string subset_text = subset_files.dump();
  const json header = {{"qparity_device_journal", 1},
                       {"model_sha256", mf.sha256},
                       {"port", o.port},
                       {"subset_sha256", sha256_hex(subset_text.data(), subset_text.size())}};
  Journal journal(o.out + ".journal", header, o.fresh);
  // A resumed journal is checked before any device time is spent on the rest.
  for (size_t i : subset)
    if (journal.has(split.samples[i].path))
      (void)read_journal_entry(journal.get(split.samples[i].path), m.classes.size(), journal.path(), split.samples[i].path);
  const bool emulated = is_emulated_port(o.port);
  json footprint = json::object();
  std::string elf;
  if (emulated) elf = prepare_firmware(o, mf.sha256, &footprint);

  // The images the journal does not hold yet (all of them unless a run is resumed).
  std::vector<size_t> pending;
  for (size_t i : subset)
    if (!journal.has(split.samples[i].path)) pending.push_back(i);
  const size_t resumed = n - pending.size();
  int jobs = emulated ? o.jobs : 1;
  if (jobs <= 0) jobs = pending.size() >= 100 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : 1;
  jobs = static_cast<int>(std::min<size_t>(static_cast<size_t>(jobs), std::max<size_t>(pending.size(), 1)));
  if (o.link != "auto" && o.link != "uart" && o.link != "semihost") fail("--link must be auto, uart or semihost (got '" + o.link + "')");
  const bool semihost_link = o.port == "qemu-rv32" && (o.link == "semihost" || (o.link == "auto" && n >= 100));
  const std::string link = !emulated ? "serial" : o.port == "qemu-xtensa" ? "semihost" : semihost_link ? "semihost" : "uart";

  if (!o.quiet) {
    std::printf("device %s (%s link): %zu images (%s of %zu, seed %llu)%s%s\n", o.port.c_str(), link.c_str(), n, o.subset.c_str(),
                split.samples.size(), static_cast<unsigned long long>(o.seed),
                resumed ? (", resuming: " + std::to_string(resumed) + " already done").c_str() : "",
                split.skipped.empty() ? "" : ("; " + std::to_string(split.skipped.size()) + " skipped as bad").c_str());
    std::fflush(stdout);
  }
  std::mutex mu;
  std::atomic<size_t> next{0}, done{resumed};
  Hello hello;
  ClientStats total_stats;
  std::string first_error;
  Progress progress("device " + o.port, static_cast<long>(n));
  auto worker = [&](int index) {
    try {
      ConnectOptions co;
      co.port = o.port;
      co.firmware = elf;
      co.baud = o.baud;
      co.workdir = (out_dir / "device-logs").string();
      co.index = index;
      co.icount = o.icount;
      co.semihost_link = semihost_link;
      co.client.timeout_ms = o.timeout_ms;
      co.client.classes = static_cast<int>(m.classes.size());
      Connection conn(co, &mf);
      Client &c = conn.client();
      {
        std::lock_guard<std::mutex> lock(mu);
        hello = conn.hello();
      }
      std::vector<uint8_t> rgb(image_bytes);
      for (;;) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error.empty()) return;
        }
        const size_t t = next++;
        if (t >= pending.size()) break;
        const size_t i = pending[t];
        std::copy(split.image(i), split.image(i) + image_bytes, rgb.begin());
        const Inference r = c.infer(rgb);
        json e = {{"pred", r.pred}, {"scores", std::vector<int>(r.scores.begin(), r.scores.end())}, {"cycles", r.cycles},
                  {"micros", r.micros}};
        std::lock_guard<std::mutex> lock(mu);
        journal.append(split.samples[i].path, e);
        progress.update(static_cast<long>(++done));
      }
      std::lock_guard<std::mutex> lock(mu);
      const auto &st = c.stats();
      total_stats.frames_sent += st.frames_sent;
      total_stats.retries += st.retries;
      total_stats.bad_frames += st.bad_frames;
      total_stats.resets_detected += st.resets_detected;
    } catch (const std::exception &e) {
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.empty()) first_error = e.what();
    }
  };
  // At least one worker runs even when the journal already holds every image: its HELLO (target,
  // model hash, arena, clock) goes into device.json.
  std::vector<std::thread> pool;
  for (int j = 0; j < jobs; ++j) pool.emplace_back(worker, j);
  for (auto &t : pool) t.join();
  if (!first_error.empty() && journal.size() == 0) {
    std::error_code ec;
    fs::remove(journal.path(), ec);  // nothing to resume
  }
  if (!first_error.empty())
    throw Error(first_error + (journal.size() ? "\n  (" + std::to_string(journal.size()) + " results are kept in " + journal.path() +
                                                   "; rerun the same command to resume)"
                                              : ""));
  progress.finish();

  // Assemble device.json in the subset's order.
  eval::Results res;
  res.model = o.model;
  res.model_sha256 = mf.sha256;
  res.precision = "int8";
  res.classes = m.classes;
  uint64_t cycles_sum = 0;
  for (size_t i : subset) {
    // Every entry, resumed or written by this run, is checked against the model before it is counted.
    const Inference e = read_journal_entry(journal.get(split.samples[i].path), m.classes.size(), journal.path(),
                                           split.samples[i].path);
    eval::ImageResult ir;
    ir.file = split.samples[i].path;
    ir.sha256 = split.samples[i].sha256;
    ir.label = split.samples[i].label;
    ir.pred = e.pred;
    ir.qscores.assign(e.scores.begin(), e.scores.end());
    if (__builtin_add_overflow(cycles_sum, e.cycles, &cycles_sum))
      fail("journal " + journal.path() + ": the cycle counts add up past 2^64 (entry '" + split.samples[i].path + "': " +
               std::to_string(e.cycles) + ")",
           "delete it or pass --fresh to start over; if a fresh run does the same, the board's cycle counter is broken");
    ir.cycles = static_cast<int64_t>(std::min<uint64_t>(e.cycles, INT64_MAX));
    ir.micros = e.micros;
    res.images.push_back(std::move(ir));
  }
  res.set_output(eval::Int8Output::of(m));  // probabilities or logits: the confidence and the margins' unit
  const double per_inf = n ? static_cast<double>(cycles_sum) / static_cast<double>(n) : 0.0;
  nlohmann::ordered_json dev = {{"target", hello.target},
                                {"port", o.port},
                                {"model_hash", hello.model_hash},
                                {"arena_bytes", hello.arena_bytes},
                                {"clock_hz", hello.clock_hz},
                                {"emulated", emulated},
                                {"link", link},
                                {"icount", emulated && o.icount},
                                {"instances", jobs},
                                {"cycles_per_inference", per_inf},
                                {"instructions_per_inference", emulated && o.icount ? nlohmann::ordered_json(per_inf) : nlohmann::ordered_json(nullptr)},
                                {"est_ms", {{"160", per_inf / 160e3}, {"240", per_inf / 240e3}}},
                                {"seed_ms", 39.68},
                                {"link", {{"frames_sent", total_stats.frames_sent},
                                          {"retries", total_stats.retries},
                                          {"bad_frames", total_stats.bad_frames},
                                          {"resets_detected", total_stats.resets_detected}}}};
  for (const char *k : {"flash_bytes", "code_bytes", "runtime_code_bytes", "weights_bytes", "ram_bytes", "stack_bytes",
                        "naive_arena_bytes", "flash_budget", "ram_budget"})
    if (footprint.contains(k)) dev[k] = nlohmann::ordered_json::parse(footprint[k].dump());
  // device.json through the results codec (eval/results_io.h): the schema of `qparity eval` plus
  // "platform", per-image cycles/micros, "subset" and "device".
  eval::ResultsFile file;
  file.results = res;
  file.platform = "device";
  file.subset = nlohmann::ordered_json{{"seed", o.seed}, {"requested", o.subset}, {"n", n}, {"of", split.samples.size()},
                                       {"data", o.data}};
  file.device = dev;
  nlohmann::ordered_json j = eval::results_json(file);
  eval::write_results_file(file, o.out);
  std::error_code ec;
  fs::remove(journal.path(), ec);
  if (!o.quiet) {
    std::printf("%s accuracy on the device: %s\n", o.port.c_str(), eval::format_accuracy(res).c_str());
    std::printf("%s%s", eval::format_ties(res).c_str(),
                eval::format_confusion_or_top(m.classes, eval::label_pred(res.images)).c_str());
    if (per_inf > 0)
      std::printf("%s per inference: %.2f M (est. %.2f ms at 160 MHz, %.2f ms at 240 MHz; the seed's ESP32: 39.68 ms)\n",
                  emulated && o.icount ? "instructions" : "cycles", per_inf / 1e6, per_inf / 160e3, per_inf / 240e3);
  }
  return j;
}

}  // namespace qp::device
