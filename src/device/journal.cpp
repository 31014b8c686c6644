// Results journal (see journal.h).
#include "device/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "data/image_io.h"

namespace qp::device {
namespace {

constexpr const char *kFix = "delete it or pass --fresh to start over";

nlohmann::json header_line(const nlohmann::json &header) {
  return {{"qparity_journal", 1}, {"header", header}};
}

// Makes a new file's directory entry durable too.
void fsync_parent(const std::string &path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Journal::Journal(const std::string &path, const nlohmann::json &header, bool fresh) : path_(path) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  size_t keep = 0;  // bytes of whole lines to keep; 0 = write a new file
  if (exists && !fresh) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot read journal " + path + ": " + std::strerror(errno), "check its permissions, or " + std::string(kFix));
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
      const size_t end = text.find('\n', pos);
      if (end == std::string::npos) break;  // torn last line: ignored, truncated below
      ++line_no;
      const std::string line = text.substr(pos, end - pos);
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (line_no == 1) {
        if (j.is_discarded() || !j.is_object() || !j.contains("qparity_journal") || !j.contains("header"))
          fail(path + " is not a qparity journal (its first line is not a journal header)", kFix);
        if (j["header"] != header)
          fail("journal " + path + " belongs to a different run (its header " + j["header"].dump() + " differs from " +
                   header.dump() + ")",
               kFix);
      } else {
        if (j.is_discarded() || !j.is_object() || !j.contains("key") || !j["key"].is_string() || !j.contains("entry"))
          fail("journal " + path + " is damaged at line " + std::to_string(line_no), kFix);
        entries_[j["key"].get<std::string>()] = std::move(j["entry"]);
      }
      pos = end + 1;
    }
    keep = pos;
  }
  if (keep == 0) {  // new, fresh, empty or only a torn header: start the file over
    const std::string line = header_line(header).dump() + "\n";
    data::write_file_atomic(path, line.data(), line.size());
    fsync_parent(path);
    entries_.clear();
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open journal " + path + " for writing: " + std::strerror(errno), "check the folder's permissions");
  if (keep > 0) {
    if (::ftruncate(fd_, static_cast<off_t>(keep)) != 0) {
      const int err = errno;
      ::close(fd_);
      fail("cannot truncate the torn last line of journal " + path + ": " + std::strerror(err), kFix);
    }
  }
  if (::lseek(fd_, 0, SEEK_END) < 0) {
    const int err = errno;
    ::close(fd_);
    fail("cannot seek in journal " + path + ": " + std::strerror(err), kFix);
  }
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

bool Journal::has(const std::string &key) const {
  return entries_.count(key) > 0;
}

const nlohmann::json &Journal::get(const std::string &key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) fail("journal " + path_ + " has no entry for '" + key + "'");
  return it->second;
}

void Journal::write_line(const std::string &line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t w = ::write(fd_, line.data() + done, line.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("cannot write to journal " + path_ + ": " + std::strerror(errno), "check the free disk space");
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd_) != 0) fail("cannot sync journal " + path_ + " to disk: " + std::strerror(errno), "check the disk");
}

void Journal::append(const std::string &key, const nlohmann::json &entry) {
  write_line(nlohmann::json{{"key", key}, {"entry", entry}}.dump() + "\n");
  entries_[key] = entry;
}

}  // namespace qp::device
