// Results journaled to disk as they arrive, so an interrupted device run resumes without redoing or losing
// an image.
//
//   qp::device::Journal j("out/device-run.jsonl", {{"model_hash", hash}, {"target", "esp32s3"}}, fresh);
//   for (auto &img : images) {
//     if (j.has(img.key)) continue;          // done before the interruption
//     j.append(img.key, {{"pred", r.pred}});  // on disk (fsync) before the next image starts
//   }
//
// File format: JSON Lines. Line 1 is {"qparity_journal": 1, "header": <header>}; every other line is
// {"key": <string>, "entry": <object>}. Only whole lines count: a crash in the middle of a write leaves a
// torn last line, which the next open ignores and truncates away. A key appended twice keeps the last entry.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace qp::device {

class Journal {  // append-only JSON Lines; first line is a header object
 public:
  // Opens `path`. When it exists and its header equals `header`, loads the entries (resume); a torn last line
  // (crash mid-write) is ignored and truncated away. When the header differs: qp::fail naming the file and the
  // fix (delete it or pass --fresh). fresh=true starts over.
  Journal(const std::string &path, const nlohmann::json &header, bool fresh = false);
  ~Journal();
  Journal(const Journal &) = delete;
  Journal &operator=(const Journal &) = delete;

  bool has(const std::string &key) const;
  // The entry of `key`; qp::Error when there is none.
  const nlohmann::json &get(const std::string &key) const;
  // Writes one line, flushes and fsyncs.
  void append(const std::string &key, const nlohmann::json &entry);
  size_t size() const { return entries_.size(); }
  const std::map<std::string, nlohmann::json> &entries() const { return entries_; }
  const std::string &path() const { return path_; }

 private:
  void write_line(const std::string &line);

  std::string path_;
  int fd_ = -1;
  std::map<std::string, nlohmann::json> entries_;
};

}  // namespace qp::device
