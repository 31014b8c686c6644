// Shared helpers for the tests: temporary folders and small images.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/rng.h"
#include "data/image_io.h"

namespace qp::test {

// A fresh temporary folder, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("qparity-") + (info ? std::string(info->test_suite_name()) + "-" + info->name() : "t");
    for (auto &c : name)
      if (c == '/') c = '_';
    path_ = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string &p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

inline data::Image random_image(int w, int h, uint64_t seed) {
  data::Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(w) * h * 3);
  Rng rng(seed);
  for (auto &p : img.pixels) p = static_cast<uint8_t>(rng.below(256));
  return img;
}

// A whole file's bytes (a fixture); a file that cannot be opened fails the test.
inline std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace qp::test
