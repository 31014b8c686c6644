// qparity report: the run folder's HTML report and summary.json.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "report/report.h"

namespace qp::cli {

void add_report_commands(CLI::App &app) {
  struct Args {
    std::string run, out;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto *cmd = app.add_subcommand("report", "One self-contained HTML report (and summary.json) from a pipeline run folder");
  cmd->add_option("--run", a->run, "Run folder written by 'qparity pipeline --out RUN'")->required();
  cmd->add_option("--out", a->out, "HTML file to write (default RUN/report.html)");
  cmd->add_flag("--force", a->force, "Overwrite --out if it exists outside the run folder");
  cmd->callback([a] {
    const auto w = report::write_report(a->run, a->out, a->force);
    const auto &r = w.report;
    std::printf("verdict: %s\n", r.verdict.empty() ? "none (the device stage has not run)" : r.verdict.c_str());
    if (!r.missing.empty()) {
      std::printf("not run (shown as such in the report):");
      for (const auto &m : r.missing) std::printf(" %s", m.c_str());
      std::printf("\n");
    }
    for (const auto &p : r.problems) std::printf("unreadable: %s\n", p.c_str());
    std::printf("report  %s (%.1f KiB)\nsummary %s\n", w.html_path.c_str(), static_cast<double>(r.html.size()) / 1024.0,
                w.summary_path.c_str());
  });
}

}  // namespace qp::cli
