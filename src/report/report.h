// qparity report: the whole validation on one self-contained HTML page, plus RUN/summary.json.
//
//   qp::report::Report r = qp::report::build_report("out/demo");   // reads whatever RUN holds
//   r.html;       // one file: inline CSS and SVG, thumbnails as data: URIs, no scripts, no network
//   r.summary;    // {"dataset", "fp32", "int8_host", "subset", "equivalence", "model", "device", ...}
//   qp::report::write_report("out/demo", "out/demo/report.html", false);
//
// Inputs (all optional; each one that is missing or unreadable becomes a "not run" note on the page and
// nulls in summary.json, never an error): RUN/pipeline.json, RUN/fp32-results.json,
// RUN/int8-host-results.json, RUN/device.json, RUN/verdict.json, RUN/inspection.json,
// RUN/firmware/footprint.json, RUN/fp32.onnx, RUN/int8.onnx, RUN/fp32.train.csv (or fp32.curve.svg),
// and the images named in the results files (for thumbnails; a placeholder when one is gone).
// The results files are read through the one codec (eval/results_io.h; a file it refuses is unreadable).
// The subset's matrices and equivalence numbers are verify's: verdict.json when present, else verify itself
// run on device.json and int8-host-results.json (the same image matching and statistics, never a second rule).
//
// Deterministic: the same RUN gives the same HTML bytes (no clock; stage times only from pipeline.json).
// summary.json differs only in "report": {"seconds"}, the report stage's own time (write_report).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qp::report {

struct Report {
  std::string html;
  nlohmann::json summary;
  std::string verdict;                // "EQUIVALENT", "NOT EQUIVALENT", or "" when no device stage ran
  std::vector<std::string> missing;   // artifacts not found in RUN (file names relative to RUN)
  std::vector<std::string> problems;  // artifacts present but unreadable, with the reason
};

// Reads RUN and renders. Throws qp::Error only when `run_dir` is not a folder.
Report build_report(const std::string &run_dir);

struct Written {
  std::string html_path, summary_path;
  Report report;
};

// build_report, then writes the HTML to `out_html` (default RUN/report.html when empty) and
// RUN/summary.json, atomically. Files inside RUN are derived and are replaced freely; an existing
// `out_html` elsewhere needs `force` (qp::Error otherwise).
Written write_report(const std::string &run_dir, const std::string &out_html = "", bool force = false);

}  // namespace qp::report
