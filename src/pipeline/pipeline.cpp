// The pipeline orchestrator (see pipeline.h).
#include "pipeline/pipeline.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "common/json_read.h"
#include "common/sha256.h"
#include "common/shell.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "data/synth.h"
#include "device/emulator.h"
#include "device/subset.h"
#include "eval/results_io.h"
#include "firmware/codegen.h"
#include "model/ir.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"

namespace qp::pipeline {
namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

std::string trim(const std::string &s) {
  const auto b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The results files the pipeline reads back are its own stages' outputs: damaged ones are rewritten by rerunning.
constexpr const char *kResultsFix = "delete it and rerun the same pipeline command (the stage that writes it runs again)";

std::string read_text(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_text(const fs::path &p, const std::string &s) { data::write_file_atomic(p.string(), s.data(), s.size()); }

// What identifies a file's content for skipping: its hash (models, results) or, for a folder of
// images, every file's relative path, size and modification time.
std::string fingerprint(const fs::path &p) {
  if (fs::is_regular_file(p)) return sha256_file_hex(p.string());
  if (!fs::is_directory(p)) return "missing";
  std::vector<std::string> rows;
  for (const auto &e : fs::recursive_directory_iterator(p)) {
    if (!e.is_regular_file()) continue;
    const auto t = e.last_write_time().time_since_epoch().count();
    rows.push_back(fs::relative(e.path(), p).string() + ":" + std::to_string(e.file_size()) + ":" + std::to_string(t));
  }
  std::sort(rows.begin(), rows.end());
  std::string all;
  for (const auto &r : rows) all += r + "\n";
  return sha256_hex(all.data(), all.size());
}

// Runs one stage's command with the terminal inherited (progress bars show). Returns its exit code.
int run_child(const std::vector<std::string> &args) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) fail("could not start '" + args[0] + "'");
  if (pid == 0) {
    std::vector<char *> argv;
    for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string tool_version(const std::string &cmd) {
  FILE *p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return "";
  char buf[256] = {0};
  const char *got = fgets(buf, sizeof buf, p);
  pclose(p);
  return got ? trim(buf) : "";
}

std::string iso_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Per-image CSV beside a results JSON (results.json -> results.csv).
void write_csv(const fs::path &json_path) {
  if (!fs::is_regular_file(json_path)) return;
  const json_read::Source src{json_path.string(), kResultsFix};
  const std::string text = results_csv(json_read::parse(read_text(json_path), src), json_path.string());
  fs::path csv = json_path;
  csv.replace_extension(".csv");
  write_text(csv, text);
}

// The seed's device log beside device.json.
void write_device_log(const fs::path &device_json, const fs::path &out) {
  if (!fs::is_regular_file(device_json)) return;
  const json_read::Source src{device_json.string(), kResultsFix};
  write_text(out, device_log(json_read::parse(read_text(device_json), src), device_json.string()));
}

// pipeline-state.json: {"<stage>": {"key": <64 hex digits>, "exit": <exit code>}}.
json read_state(const fs::path &p) {
  const json_read::Source src{p.string(), "delete it (the pipeline then reruns every stage)"};
  json state = json_read::parse(read_text(p), src);
  json_read::as_object(state, src, "");
  for (const auto &[stage, v] : state.items()) {
    json_read::sha256(v, "key", src, stage);
    json_read::to_int(v, "exit", 0, 255, src, stage);
  }
  return state;
}

}  // namespace

namespace {

// The images of a results file the pipeline's own stages wrote, read through the codec (eval/results_io.h).
eval::ResultsFile read_rows(const json &j, const std::string &name) {
  return eval::read_results(j, json_read::Source{name, kResultsFix});
}

// A score as the file holds it (the codec keeps FP32 scores as float, which prints back to the same text).
std::string scores_text(const eval::ImageResult &i) {
  std::string s;
  if (!i.qscores.empty()) {
    for (size_t c = 0; c < i.qscores.size(); ++c) s += (c ? " " : "") + std::to_string(i.qscores[c]);
  } else {
    for (size_t c = 0; c < i.scores.size(); ++c) s += (c ? " " : "") + json(static_cast<double>(i.scores[c])).dump();
  }
  return s;
}

}  // namespace

std::string results_csv(const json &j, const std::string &name) {
  const json_read::Source src{name, kResultsFix};
  json_read::as_object(j, src, "");
  const bool dev = j.contains("platform");
  const eval::ResultsFile f = read_rows(j, name);
  const auto &classes = f.results.classes;
  std::ostringstream o;
  o << "file,sha256,true,pred,correct,conf,margin,scores";
  if (dev) o << ",cycles,micros";
  o << "\n";
  for (const auto &r : f.results.images) {
    std::string file = r.file;
    if (file.find_first_of(",\"\n\r") != std::string::npos) {
      std::string q = "\"";
      for (char c : file) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      file = q + "\"";
    }
    o << file << "," << r.sha256 << "," << classes[static_cast<size_t>(r.label)] << "," << classes[static_cast<size_t>(r.pred)]
      << "," << (r.label == r.pred ? 1 : 0) << "," << r.conf() << "," << r.margin() << "," << scores_text(r);
    if (dev) o << "," << r.cycles.value_or(0) << "," << r.micros.value_or(0);
    o << "\n";
  }
  return o.str();
}

std::string device_log(const json &j, const std::string &name) {
  const json_read::Source src{name, kResultsFix};
  json_read::as_object(j, src, "");
  const eval::ResultsFile f = read_rows(j, name);
  const auto &classes = f.results.classes;
  const auto &rows = f.results.images;
  // An emulated board's time is its instruction count at a nominal clock: an estimate, marked "(est.)".
  // Only a real board's time is a measurement.
  const json dev = f.device.is_object() ? json::parse(f.device.dump()) : json::object();
  auto text = [&](const char *key) {
    return dev.contains(key) && dev[key].is_string() ? dev[key].get<std::string>() : std::string();
  };
  const bool emulated = dev.contains("emulated") && dev["emulated"].is_boolean()
                            ? dev["emulated"].get<bool>()
                            : text("port").starts_with("qemu-") || text("target").starts_with("qemu-");
  std::ostringstream o;
  size_t k = 0, correct = 0;
  for (const auto &r : rows) {
    correct += r.label == r.pred;
    o << "Image " << ++k << "/" << rows.size() << " | True: " << classes[static_cast<size_t>(r.label)]
      << " | Pred: " << classes[static_cast<size_t>(r.pred)] << " | ";
    char line[128];
    const double ms = static_cast<double>(r.micros.value_or(0)) / 1000.0;
    std::snprintf(line, sizeof line, "Conf: %.4f | Time: %.2fms%s %s\n", r.conf(), ms, emulated ? " (est.)" : "",
                  r.label == r.pred ? "✓" : "✗");
    o << line;
  }
  o << "Accuracy: " << correct << "/" << rows.size() << "\n";
  return o.str();
}

std::map<std::string, std::string> read_config(const std::string &path) {
  if (!fs::is_regular_file(path)) fail("config file '" + path + "' does not exist", "pass a TOML or JSON file to --config");
  return parse_config(read_text(path), path);
}

std::map<std::string, std::string> parse_config(const std::string &text, const std::string &path) {
  std::map<std::string, std::string> kv;
  const bool is_json = path.ends_with(".json") || trim(text).starts_with("{");
  if (is_json) {
    json j;
    try {
      j = json::parse(text);
    } catch (const std::exception &e) {
      fail("config file '" + path + "' is not valid JSON (" + std::string(e.what()).substr(0, 160) + ")", "fix the syntax");
    }
    if (!j.is_object()) fail("config file '" + path + "' must hold one JSON object", "e.g. {\"synth\": true, \"out\": \"out/run\"}");
    for (const auto &[k, v] : j.items()) {
      if (!v.is_string() && !v.is_number() && !v.is_boolean())
        fail("config file '" + path + "': '" + k + "' is " + v.type_name() + "; option values are strings, numbers or true/false",
             "e.g. {\"" + k + "\": \"...\"}");
      kv[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    return kv;
  }
  std::istringstream in(text);
  std::string line;
  int no = 0;
  while (std::getline(in, line)) {
    ++no;
    std::string s = line;
    bool in_str = false;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '"') in_str = !in_str;
      if (s[i] == '#' && !in_str) {
        s.resize(i);
        break;
      }
    }
    s = trim(s);
    if (s.empty() || s.front() == '[') continue;
    const auto eq = s.find('=');
    if (eq == std::string::npos)
      fail("config file '" + path + "' line " + std::to_string(no) + ": expected key = value", "e.g. device = \"qemu-rv32\"");
    std::string k = trim(s.substr(0, eq)), v = trim(s.substr(eq + 1));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
    kv[k] = v;
  }
  return kv;
}

namespace {

// A bad option value: the command line is wrong (exit 2, like any other usage error).
[[noreturn]] void usage(const std::string &what, const std::string &fix) { throw Error(what + "\n  fix: " + fix, 2); }

}  // namespace

int synth_side(const std::string &input) {
  if (input.empty()) return 32;
  const model::Shape in = model::parse_input_size(input);
  return std::max(32, std::max(in.h, in.w));
}

void check_options(const PipelineOptions &o) {
  if (o.out.empty()) usage("--out is required", "name the run folder, e.g. --out out/run");
  if (o.synth == !o.data.empty())
    usage("give exactly one of --synth (the built-in dataset) and --data DIR (your ImageFolder)",
          "e.g. qparity pipeline --synth --out out/run");
  if (!o.synth && (o.synth_train != 0 || o.synth_test != 0))
    usage("--synth-train and --synth-test size the built-in set; they do nothing with --data", "drop them, or use --synth");
  if (o.synth_train < 0 || o.synth_test < 0)
    usage("--synth-train and --synth-test must not be negative (0 = the generator's default)", "e.g. --synth-train 600");
  if (o.epochs < 0) usage("--epochs must not be negative (got " + std::to_string(o.epochs) + ")", "e.g. --epochs 20 (0 = the trainer's default)");
  if (o.threads < 0) usage("--threads must not be negative (got " + std::to_string(o.threads) + ")", "e.g. --threads 4 (0 = all cores)");
  device::parse_subset(o.subset, 2);
  if (o.device != "none" && !device::is_emulated_port(o.device)) {
    if (o.device.find('/') == std::string::npos)
      usage("--device must be none, qemu-rv32, qemu-xtensa or a serial port such as /dev/ttyUSB0 (got '" + o.device + "')",
            "pick one of those; a board's name (esp32, ...) goes in --target");
    if (!fs::exists(o.device))
      fail("serial port " + o.device + " does not exist",
           "is the board plugged in? list the ports with: ls /dev/ttyUSB* /dev/ttyACM*; or run with --device none first");
  }
  {
    std::string boards;
    bool known = false;
    for (const auto &t : firmware::targets()) {
      if (t.kind != "esp-idf") continue;
      boards += (boards.empty() ? "" : ", ") + t.name;
      known = known || o.target == t.name;
    }
    if (!known)
      usage("--target must be an ESP-IDF board: " + boards + " (got '" + o.target + "')",
            "emulated boards go in --device (qemu-rv32, qemu-xtensa)");
  }
  if (!o.int8_model.empty()) {
    if (!o.fp32_model.empty())
      usage("--int8 validates a given INT8 model and --fp32 quantizes a given FP32 model: pick one",
            "drop --fp32 (the report then says which sections need an FP32 model), or drop --int8");
    if (!fs::is_regular_file(o.int8_model))
      fail("--int8 model '" + o.int8_model + "' does not exist", "pass the INT8 .tflite or QDQ .onnx to validate");
    if (!quant::is_int8_model(o.int8_model))
      usage("--int8 '" + o.int8_model + "' is not an INT8 model", "pass an FP32 model as --fp32 (it is then quantized)");
    // DATA/test, or DATA itself as the split (its class folders; split_classes names the problem otherwise).
    if (!o.synth && !fs::is_directory(fs::path(o.data) / "test")) (void)data::split_classes(o.data);
    return;  // nothing trains: --arch and --input do not apply
  }
  if (!o.classes.empty() || !o.input_range.empty() || !o.mean.empty() || !o.std.empty())
    usage("--classes, --input-range, --mean and --std describe a given INT8 model (--int8)",
          "drop them: a model qparity trains or quantizes records its own classes and input convention");
  if (!o.synth) {
    if (!fs::is_directory(fs::path(o.data) / "train") || !fs::is_directory(fs::path(o.data) / "test"))
      fail("'" + o.data + "' must hold train/ and test/ class folders",
           "see README 'Your own images' (DIR/train/<class>/*.png, DIR/test/<class>/*.png)");
  }
  if (!o.fp32_model.empty()) {
    if (!fs::is_regular_file(o.fp32_model))
      fail("--fp32 model '" + o.fp32_model + "' does not exist", "pass the FP32 .onnx to use, or leave --fp32 out to train one");
    if (quant::is_int8_model(o.fp32_model))
      usage("--fp32 '" + o.fp32_model + "' is an INT8 model", "pass the FP32 model it was quantized from");
  } else {
    // The architecture must build for the data's classes (the built-in set has three) at the input size.
    model::Shape in{3, 32, 32};
    try {
      if (!o.input.empty()) in = model::parse_input_size(o.input);
    } catch (const Error &e) {
      throw Error(e.what(), 2);
    }
    std::vector<std::string> classes = {"rock", "paper", "scissors"};
    if (!o.synth) classes = data::split_classes((fs::path(o.data) / "train").string());
    try {
      (void)model::graph_from_spec(o.arch, classes, in);
    } catch (const Error &e) {
      throw Error("--arch: " + std::string(e.what()), 2);
    }
  }
}

int run_pipeline(const PipelineOptions &o, const std::string &self, const std::string &command_line) {
  check_options(o);
  const fs::path run(o.out);
  const fs::path state_path = run / "pipeline-state.json";
  if (fs::exists(run) && !fs::is_directory(run)) fail("'" + o.out + "' exists and is not a folder", "choose another --out");
  if (fs::is_directory(run) && !fs::is_empty(run) && !fs::exists(state_path) && !o.force)
    fail("'" + o.out + "' is not empty and was not made by 'qparity pipeline'", "choose another --out, or pass --force to use it");
  fs::create_directories(run);
  json state = fs::exists(state_path) ? read_state(state_path) : json::object();

  const std::string data = o.synth ? (run / "data").string() : o.data;
  const bool given_int8 = !o.int8_model.empty();
  // The split the host and the device run: DATA/test, or (a given INT8 model needs no training set) DATA itself.
  const std::string test =
      given_int8 && !o.synth && !fs::is_directory(fs::path(o.data) / "test") ? o.data : data + "/test";
  const std::string fp32 = o.fp32_model.empty() ? (run / "fp32.onnx").string() : o.fp32_model;
  const std::string int8 = (run / "int8.onnx").string();
  const std::string seed = std::to_string(o.seed);
  const bool has_device = o.device != "none";
  const bool emulated = device::is_emulated_port(o.device);

  struct Stage {
    std::string name, title;
    std::vector<std::string> args;    // after the qparity binary
    std::vector<std::string> inputs;  // files/folders whose content matters
    std::vector<std::string> outputs; // must exist for a skip
    bool allow_exit1 = false;         // verify: 1 = NOT EQUIVALENT, still a finished stage
  };
  std::vector<Stage> stages;
  auto threads = [&](std::vector<std::string> a) {
    if (o.threads > 0) a.insert(a.end(), {"--threads", std::to_string(o.threads)});
    return a;
  };
  // --skip-bad goes to every stage that reads images (so it is part of each stage's key, too).
  auto images = [&](std::vector<std::string> a) {
    if (o.skip_bad) a.push_back("--skip-bad");
    return a;
  };
  if (o.synth) {
    std::vector<std::string> a = {"data", "synth", "--out", data, "--seed", seed};
    if (o.synth_train > 0) a.insert(a.end(), {"--train", std::to_string(o.synth_train)});
    if (o.synth_test > 0) a.insert(a.end(), {"--test", std::to_string(o.synth_test)});
    if (synth_side(o.input) != 32) a.insert(a.end(), {"--size", std::to_string(synth_side(o.input))});
    stages.push_back({"data", "built-in rock/paper/scissors set", threads(a), {}, {(run / "data/manifest.json").string()}});
  } else {
    // A given INT8 model needs only the split it runs on (DATA may hold no train/).
    const std::string checked = given_int8 ? test : data;
    stages.push_back({"data", "check your image folder", images({"data", "check", checked}), {checked}, {}});
  }
  if (o.fp32_model.empty() && !given_int8) {
    std::vector<std::string> a = {"train", "--data", data, "--out", fp32, "--arch", o.arch, "--seed", seed, "--force"};
    if (o.epochs > 0) a.insert(a.end(), {"--epochs", std::to_string(o.epochs)});
    if (!o.input.empty()) a.insert(a.end(), {"--input", o.input});
    const std::string title = "FP32 training (" + o.arch + (o.input.empty() ? "" : " at " + o.input) + ")";
    stages.push_back({"train", title, images(threads(a)), {data}, {fp32}});
  }
  if (given_int8) {
    // The given model, imported as RUN/int8.onnx with its classes and input convention (checked exact by convert).
    // Class names: --classes, else labels.txt beside the model or its metadata, else the data's (count checked by convert).
    std::string classes = o.classes;
    if (classes.empty() && !fs::exists(fs::path(o.int8_model).parent_path() / "labels.txt") &&
        quant::load_int8_model(o.int8_model).model.classes.empty()) {
      const auto names = o.synth ? data::synth_class_names() : data::split_classes(test);
      for (const auto &c : names) classes += (classes.empty() ? "" : ",") + c;
    }
    std::vector<std::string> a = {"convert", o.int8_model, int8, "--force"};
    if (!classes.empty()) a.insert(a.end(), {"--classes", classes});
    if (!o.input_range.empty()) a.insert(a.end(), {"--input-range", o.input_range});
    if (!o.mean.empty()) a.insert(a.end(), {"--mean", o.mean});
    if (!o.std.empty()) a.insert(a.end(), {"--std", o.std});
    stages.push_back({"import", "the given INT8 model (no training, no quantizing)", a, {o.int8_model}, {int8}});
  } else {
    stages.push_back({"eval-fp32", "FP32 on the full test set",
                      images(threads({"eval", "--model", fp32, "--data", data + "/test", "--out", (run / "fp32-results.json").string(),
                                      "--force"})),
                      {fp32, data + "/test"},
                      {(run / "fp32-results.json").string()}});
    stages.push_back({"quantize", "INT8 post-training quantization",
                      images(threads({"quantize", "--model", fp32, "--calib", data + "/train", "--out", int8, "--seed", seed, "--force"})),
                      {fp32, data + "/train"},
                      {int8}});
  }
  stages.push_back({"eval-int8", "INT8 on the full test set, host",
                    images(threads({"eval", "--model", int8, "--data", test, "--out",
                                    (run / "int8-host-results.json").string(), "--force"})),
                    {int8, test},
                    {(run / "int8-host-results.json").string()}});
  if (!emulated) {
    // Real boards: the ESP-IDF project to flash (the device stage needs the board to run it).
    stages.push_back({"firmware", "ESP-IDF project for " + o.target,
                      images({"firmware", "--model", int8, "--target", o.target, "--out", (run / ("firmware-" + o.target)).string(),
                              "--subset-from", test, "--subset", o.subset == "all" ? "50" : o.subset, "--seed", seed,
                              "--force"}),
                      {int8, test},
                      {(run / ("firmware-" + o.target) / "README.md").string()}});
  }
  if (has_device) {
    std::vector<std::string> a = {"device", "run", "--model", int8, "--data", test, "--port", o.device,
                                  "--subset", o.subset, "--seed", seed, "--out", (run / "device.json").string(), "--force"};
    if (emulated) a.insert(a.end(), {"--firmware-dir", (run / "firmware").string()});
    stages.push_back({"device", "the subset on the device (" + o.device + ")", images(a), {int8, test},
                      {(run / "device.json").string()}});
    std::vector<std::string> v = {"verify", "--host", (run / "int8-host-results.json").string(), "--device",
                                  (run / "device.json").string(), "--json", (run / "verdict.json").string(), "--junit",
                                  (run / "junit.xml").string(), "--force"};
    if (!given_int8) v.insert(v.end(), {"--fp32", (run / "fp32-results.json").string()});
    // Triage: a mismatching image is rerun on the device layer by layer.
    v.insert(v.end(), {"--model", int8, "--port", o.device});
    if (emulated) v.insert(v.end(), {"--firmware", (run / "firmware/firmware.elf").string()});
    stages.push_back({"verify", "decision equivalence", v,
                      given_int8 ? std::vector<std::string>{(run / "int8-host-results.json").string(), (run / "device.json").string()}
                                 : std::vector<std::string>{(run / "int8-host-results.json").string(),
                                                            (run / "device.json").string(), (run / "fp32-results.json").string()},
                      {(run / "verdict.json").string()},
                      true});
  }
  {
    std::vector<std::string> a = {"inspect", "--int8", int8, "--data", test, "--out", (run / "inspection.json").string(), "--force"};
    std::vector<std::string> in = {int8, test};
    if (!given_int8) {  // a given INT8 model is inspected alone: no FP32 comparisons
      a.insert(a.begin() + 1, {"--fp32", fp32});
      in.push_back(fp32);
    }
    stages.push_back({"inspect", given_int8 ? "quantization inspection (the INT8 model alone)" : "quantization inspection",
                      images(threads(a)), in, {(run / "inspection.json").string()}});
  }

  ordered_json info;
  const fs::path info_path = run / "pipeline.json";
  info["version"] = QPARITY_VERSION;
  info["command"] = command_line;
  info["seed"] = o.seed;
  info["arch"] = given_int8 ? "" : o.arch;
  if (given_int8) info["int8_model"] = o.int8_model;  // validated as given: nothing was trained or quantized
  if (!o.input.empty()) info["input"] = o.input;
  info["data"] = data;
  info["synth"] = o.synth;
  info["device"] = o.device;
  info["subset"] = o.subset;
  info["skip_bad"] = o.skip_bad;
  info["started"] = iso_now();
  info["tools"] = {{"qemu-rv32", tool_version("qemu-system-riscv32 --version")},
                   {"qemu-xtensa", tool_version("qemu-system-xtensa --version")},
                   {"riscv-gcc", tool_version("riscv64-unknown-elf-gcc --version")},
                   {"xtensa-gcc", tool_version("xtensa-lx106-elf-gcc --version")}};
  info["stages"] = ordered_json::array();

  std::string self_id = QPARITY_VERSION;
  std::error_code ec;
  if (fs::is_regular_file(self, ec))
    self_id += ":" + std::to_string(fs::file_size(self, ec)) + ":" +
               std::to_string(fs::last_write_time(self, ec).time_since_epoch().count());
  const size_t total = stages.size() + 1;
  int verify_code = 0;
  for (size_t s = 0; s < stages.size(); ++s) {
    const Stage &st = stages[s];
    std::vector<std::string> args = {self};
    args.insert(args.end(), st.args.begin(), st.args.end());
    // The qparity binary is an input too: a rebuilt qparity (new kernels, new generator) reruns the stages.
    std::string key_text = shell_join(st.args) + "\nqparity=" + self_id;
    for (const auto &in : st.inputs) key_text += "\n" + in + "=" + fingerprint(in);
    const std::string key = sha256_hex(key_text.data(), key_text.size());
    bool outputs_ok = true;
    for (const auto &out : st.outputs) outputs_ok = outputs_ok && fs::exists(out);
    const bool skip = outputs_ok && state.contains(st.name) && state[st.name].is_object() && state[st.name].value("key", "") == key;
    std::printf("== %zu/%zu %s: %s%s\n", s + 1, total, st.name.c_str(), st.title.c_str(), skip ? " (up to date, skipped)" : "");
    std::printf("   %s\n", shell_join(args).c_str());
    const auto t0 = std::chrono::steady_clock::now();
    int code = skip ? state[st.name].value("exit", 0) : run_child(args);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    info["stages"].push_back({{"name", st.name}, {"command", "qparity " + shell_join(st.args)}, {"seconds", skip ? 0.0 : secs},
                              {"skipped", skip}, {"exit", code}});
    write_text(info_path, info.dump(2) + "\n");
    if (code != 0 && !(st.allow_exit1 && code == 1)) {
      state.erase(st.name);
      write_text(state_path, state.dump(2) + "\n");
      throw Error("pipeline stage '" + st.name + "' failed (exit " + std::to_string(code) + ")\n  fix: see its message above; rerun the same "
                  "pipeline command to continue (finished stages are skipped)");
    }
    state[st.name] = {{"key", key}, {"exit", code}};
    write_text(state_path, state.dump(2) + "\n");
    if (st.name == "verify") verify_code = code;
    if (st.name == "eval-fp32") write_csv(run / "fp32-results.json");
    if (st.name == "eval-int8") write_csv(run / "int8-host-results.json");
    if (st.name == "device") {
      write_csv(run / "device.json");
      write_device_log(run / "device.json", run / "device-log.txt");
    }
  }
  // The report always reflects the latest artifacts and timings.
  std::printf("== %zu/%zu report: one self-contained HTML page\n", total, total);
  const std::vector<std::string> rep = {self, "report", "--run", run.string(), "--out", (run / "report.html").string(), "--force"};
  std::printf("   %s\n", shell_join(rep).c_str());
  const auto t0 = std::chrono::steady_clock::now();
  info["stages"].push_back({{"name", "report"}, {"command", "qparity " + shell_join({rep.begin() + 1, rep.end()})},
                            {"seconds", 0.0}, {"skipped", false}, {"exit", 0}});
  write_text(info_path, info.dump(2) + "\n");
  const int rc = run_child(rep);
  info["stages"].back()["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  info["stages"].back()["exit"] = rc;
  write_text(info_path, info.dump(2) + "\n");
  if (rc != 0) throw Error("pipeline stage 'report' failed (exit " + std::to_string(rc) + ")");

  std::printf("\n");
  if (has_device && fs::exists(run / "verdict.json")) {
    const json_read::Source src{(run / "verdict.json").string(), kResultsFix};
    const json v = json_read::parse(read_text(run / "verdict.json"), src);
    const int64_t n = json_read::to_int(v, "n", 0, INT64_MAX, src);
    const std::string verdict = json_read::to_string(v, "verdict", src);
    const int64_t matches = json_read::to_int(v, "decision_matches", 0, n, src);
    const int64_t exact = json_read::to_int(v, "bitexact_outputs", 0, n, src);
    const double upper = json_read::to_number(v, "mismatch_upper_bound_95", src);
    std::printf("verdict: %s — %s vs host on %lld images: %lld/%lld decisions match, %lld/%lld int8 outputs bit-exact; mismatch "
                "rate < %.2f%% (95%% upper bound)\n",
                verdict.c_str(), o.device.c_str(), static_cast<long long>(n), static_cast<long long>(matches),
                static_cast<long long>(n), static_cast<long long>(exact), static_cast<long long>(n), 100.0 * upper);
  } else {
    std::printf("verdict: not run (no device stage: --device none)\n");
  }
  std::printf("report: %s\n", (run / "report.html").string().c_str());
  return verify_code;
}

}  // namespace qp::pipeline
