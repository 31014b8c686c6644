// The representative subset the device evaluates: stratified by class in proportion to the test set,
// seeded, deterministic (the same split, count and seed give the same images).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_folder.h"

namespace qp::device {

// `spec` is a count ("50") or "all". Returns indices into split.samples in ascending order. Each class
// gets its share of `count` by largest remainder (at least one image per class that has images, when
// count allows); within a class the images are drawn by a seeded shuffle. Throws qp::Error for a bad
// spec or an empty split.
std::vector<size_t> choose_subset(const data::Split &split, const std::string &spec, uint64_t seed);

// Checks a --subset value without a split: returns 0 for "all", else the count. Throws qp::Error
// (with `exit_code`) for anything but "all" or a positive integer written in full ("0", "-3", "1.5",
// "ten" are refused); a count above the split's size is fine (the whole split is used).
size_t parse_subset(const std::string &spec, int exit_code = 1);

}  // namespace qp::device
