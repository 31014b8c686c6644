// Representative subset selection (see subset.h).
#include "device/subset.h"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "common/error.h"
#include "common/rng.h"

namespace qp::device {

size_t parse_subset(const std::string &spec, int exit_code) {
  if (spec == "all") return 0;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(spec, &used);
  } catch (const std::exception &) {
    used = 0;
  }
  if (spec.empty() || used != spec.size() || v <= 0 || !std::isdigit(static_cast<unsigned char>(spec.front())))
    throw Error("--subset must be a positive count or 'all' (got '" + spec + "')\n  fix: e.g. --subset 50, or --subset all for every image",
                exit_code);
  return static_cast<size_t>(v);
}

std::vector<size_t> choose_subset(const data::Split &split, const std::string &spec, uint64_t seed) {
  const size_t n = split.samples.size();
  if (n == 0) fail("the split '" + split.dir + "' has no images", "point --data at a folder with class subfolders of images");
  const size_t asked = parse_subset(spec);
  const size_t count = asked == 0 ? n : std::min(n, asked);
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  if (count == n) return all;

  const size_t K = split.classes.size();
  std::vector<std::vector<size_t>> by_class(K);
  for (size_t i = 0; i < n; ++i) by_class[static_cast<size_t>(split.samples[i].label)].push_back(i);
  // Largest remainder apportionment of `count` over the classes.
  std::vector<size_t> quota(K, 0);
  std::vector<std::pair<double, size_t>> rema;
  size_t given = 0;
  for (size_t c = 0; c < K; ++c) {
    const double exact = static_cast<double>(count) * static_cast<double>(by_class[c].size()) / static_cast<double>(n);
    quota[c] = static_cast<size_t>(exact);
    given += quota[c];
    rema.emplace_back(-(exact - static_cast<double>(quota[c])), c);
  }
  std::sort(rema.begin(), rema.end());
  for (size_t r = 0; given < count && r < rema.size(); ++r, ++given) ++quota[rema[r].second];
  std::vector<size_t> out;
  for (size_t c = 0; c < K; ++c) {
    auto &v = by_class[c];
    Rng rng(seed_mix(seed, 0x5ab5e7ull, c));
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(static_cast<uint32_t>(i))]);
    out.insert(out.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(quota[c], v.size())));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace qp::device
