// Portable deterministic random numbers. std::*_distribution differ between standard libraries, so
// everything that must be "same seed, same bytes" draws from this generator instead.
#pragma once
#include <cmath>
#include <cstdint>

namespace qp {

// splitmix64: used to derive independent per-item seeds from (seed, stream, index).
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t seed_mix(uint64_t seed, uint64_t stream, uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ index);
}

// xoshiro256** with uniform/normal helpers. Floating-point draws use only +,*,sqrt,log,cos, which are
// correctly rounded or deterministic on one platform; the data generator is checked byte for byte.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto &w : s_) {
      seed = splitmix64(seed);
      w = seed;
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32 for our n).
  uint32_t below(uint32_t n) { return static_cast<uint32_t>((static_cast<uint64_t>(next() >> 32) * n) >> 32); }
  bool chance(double p) { return uniform() < p; }
  // Standard normal by Box-Muller (one value per call; simple and deterministic).
  double normal() {
    double u1 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace qp
