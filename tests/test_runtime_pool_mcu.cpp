// The MCU pooling kernels (qp_pool_mcu_s8.c: max, average, global average pooling, MEAN) against the reference
// kernels: every output byte equal over random shapes (odd sizes, 1-70 channels), VALID and SAME windows
// (windows larger than the input included), strides, clamps, extreme inputs, zero points and MEAN
// requantizations, with the input 4-byte aligned (word loads) and not (byte loads); the division-free rounded
// mean over the whole reachable sum range; the same status codes for bad arguments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"
#include "qp_runtime.h"
#include "qp_runtime_mcu.h"

using namespace qp;

namespace {

int32_t pick(Rng &r, int32_t lo, int32_t hi) {
  return static_cast<int32_t>(lo + static_cast<int64_t>(r.below(static_cast<uint32_t>(static_cast<int64_t>(hi) - lo + 1))));
}

// The reference rule (qp_pool_s8.c): half away from zero, C division (in 64 bits: for windows of more than
// 16,711,935 positions sum - count/2 can leave int32, where qp_pool_s8.c's int32 expression is undefined).
int32_t rounded_mean(int32_t sum, int32_t count) {
  const int64_t s = sum, d = count;
  return static_cast<int32_t>(s > 0 ? (s + d / 2) / d : (s - d / 2) / d);
}

// An input buffer whose data starts `misalign` bytes past a 4-byte boundary: random values, or (now and then)
// all -128, all 127, or only the two extremes.
struct Input {
  std::vector<int8_t> storage;
  int8_t *data = nullptr;
  Input(size_t n, int32_t misalign, Rng &r) : storage(n + 8) {
    auto addr = reinterpret_cast<uintptr_t>(storage.data());
    data = storage.data() + ((4 - addr % 4) % 4) + misalign;
    const uint32_t kind = r.below(8);
    for (size_t i = 0; i < n; ++i)
      data[i] = static_cast<int8_t>(kind == 0   ? -128
                                    : kind == 1 ? 127
                                    : kind == 2 ? (r.below(2) ? 127 : -128)
                                                : pick(r, -128, 127));
  }
};

struct PoolCase {
  qp_pool_params_t p{};
  qp_dims_t in{}, out{};
};

std::string describe(const PoolCase &c) {
  return "in " + std::to_string(c.in.h) + "x" + std::to_string(c.in.w) + "x" + std::to_string(c.in.c) + " out " +
         std::to_string(c.out.h) + "x" + std::to_string(c.out.w) + " k " + std::to_string(c.p.kernel) + " s " +
         std::to_string(c.p.stride) + " pad " + std::to_string(c.p.pad_top) + "," + std::to_string(c.p.pad_left) + " act " +
         std::to_string(c.p.act_min) + ".." + std::to_string(c.p.act_max);
}

// VALID (no padding, the input at least one window) or TFLite SAME (out = ceil(in / s), the odd padding
// bottom/right; the window may be larger than the input).
PoolCase random_pool(Rng &r) {
  PoolCase c;
  const bool same = r.below(2) == 0;
  c.p.stride = pick(r, 1, r.below(4) == 0 ? 4 : 2);
  c.in = {1, pick(r, 1, r.below(4) == 0 ? 24 : 9), pick(r, 1, r.below(4) == 0 ? 24 : 9),
          r.below(2) ? 4 * pick(r, 1, 17) : pick(r, 1, 70)};
  if (same) {
    c.p.kernel = pick(r, 1, r.below(3) == 0 ? std::max(c.in.h, c.in.w) + 3 : 5);
    c.out = {1, (c.in.h + c.p.stride - 1) / c.p.stride, (c.in.w + c.p.stride - 1) / c.p.stride, c.in.c};
    c.p.pad_top = std::max(0, (c.out.h - 1) * c.p.stride + c.p.kernel - c.in.h) / 2;
    c.p.pad_left = std::max(0, (c.out.w - 1) * c.p.stride + c.p.kernel - c.in.w) / 2;
  } else {
    c.p.kernel = pick(r, 1, std::min({c.in.h, c.in.w, 6}));
    c.out = {1, (c.in.h - c.p.kernel) / c.p.stride + 1, (c.in.w - c.p.kernel) / c.p.stride + 1, c.in.c};
  }
  c.p.act_min = r.below(2) ? -128 : pick(r, -128, 127);
  c.p.act_max = r.below(2) ? 127 : pick(r, c.p.act_min, 127);
  return c;
}

// Reference vs MCU kernel, the output surrounded by canaries.
void expect_pool_equal(const PoolCase &c, bool is_max, Rng &r) {
  const auto nin = static_cast<size_t>(c.in.h) * c.in.w * c.in.c, nout = static_cast<size_t>(c.out.h) * c.out.w * c.out.c;
  for (const int32_t misalign : {0, static_cast<int32_t>(r.below(3)) + 1}) {
    Input in(nin, misalign, r);
    const int32_t guard = 13;
    std::vector<int8_t> ref(nout, 0x5a), got(nout + 2 * guard, 0x3c);
    const auto run_ref = is_max ? qp_pool_max_s8 : qp_pool_avg_s8;
    const auto run_mcu = is_max ? qp_pool_max_mcu_s8 : qp_pool_avg_mcu_s8;
    ASSERT_EQ(run_ref(&c.p, &c.in, in.data, &c.out, ref.data()), QP_STATUS_OK) << describe(c);
    ASSERT_EQ(run_mcu(&c.p, &c.in, in.data, &c.out, got.data() + guard), QP_STATUS_OK) << describe(c);
    for (size_t i = 0; i < nout; ++i)
      ASSERT_EQ(int{got[guard + i]}, int{ref[i]}) << (is_max ? "max " : "avg ") << "output " << i << ": " << describe(c)
                                                  << " misalign " << misalign;
    for (int32_t i = 0; i < guard; ++i) {
      ASSERT_EQ(got[i], 0x3c) << "output underrun: " << describe(c);
      ASSERT_EQ(got[guard + nout + i], 0x3c) << "output overrun: " << describe(c);
    }
  }
}

qp_mean_params_t random_mean_params(Rng &r) {
  qp_mean_params_t p{};
  const int32_t offs[] = {-127, 128, 0};
  p.input_offset = r.below(3) == 0 ? offs[r.below(3)] : pick(r, -127, 128);
  p.output_offset = pick(r, -128, 127);
  p.multiplier = r.below(30) == 0 ? 0 : static_cast<int32_t>((1u << 30) + (static_cast<uint32_t>(r.next()) & 0x3fffffffu));
  p.shift = r.below(4) == 0 ? pick(r, -31, 30) : pick(r, -3, 2);
  return p;
}

}  // namespace

TEST(RuntimePoolMcu, RoundedMeanEqualsReferenceOverTheReachableSums) {
  // Exhaustive: every window size up to 400 (the multiply is proven exact up to 361 and for powers of two), every
  // sum a window of int8 values can have.
  for (int32_t d = 1; d <= 400; ++d)
    for (int32_t s = -128 * d; s <= 127 * d; ++s)
      ASSERT_EQ(qp_pool_rounded_mean_mcu_s32(s, d), rounded_mean(s, d)) << "sum " << s << " count " << d;
  // Larger windows (up to a whole 2^24-position map): the extremes, around every rounding boundary near them,
  // and random sums.
  Rng r(401);
  std::vector<int32_t> counts = {1024, 4096, 65536, 1 << 23, (1 << 24) - 1, 9 * 9 * 9, 1000, 1023, 1025, 4095};
  for (int i = 0; i < 300; ++i) counts.push_back(pick(r, 401, r.below(2) ? 5000 : (1 << 24) - 1));
  for (const int32_t d : counts) {
    std::vector<int32_t> sums = {-128 * d, 127 * d, 0, 1, -1};
    for (int32_t k : {-128, -127, -64, -1, 0, 1, 63, 126, 127})
      for (int32_t delta = -2; delta <= 2; ++delta) {
        const int64_t b = static_cast<int64_t>(k) * d + d / 2 + delta, b2 = static_cast<int64_t>(k) * d - d / 2 + delta;
        for (const int64_t v : {b, b2})
          if (v >= -128LL * d && v <= 127LL * d) sums.push_back(static_cast<int32_t>(v));
      }
    for (int i = 0; i < 2000; ++i) sums.push_back(static_cast<int32_t>(pick(r, -128 * d, 127 * d)));
    for (const int32_t s : sums) ASSERT_EQ(qp_pool_rounded_mean_mcu_s32(s, d), rounded_mean(s, d)) << "sum " << s << " count " << d;
  }
}

TEST(RuntimePoolMcu, AvgAndMaxEqualReferenceOnRandomShapes) {
  Rng r(402);
  for (int t = 0; t < 600; ++t) {
    SCOPED_TRACE(t);
    const PoolCase c = random_pool(r);
    expect_pool_equal(c, false, r);
    expect_pool_equal(c, true, r);
    if (HasFatalFailure()) return;
  }
}

TEST(RuntimePoolMcu, AvgEqualsReferenceOnModelLayers) {
  // ResNet-8's 8x8 average pooling of its 8x8x64 map, 2x2/2 and 3x3/1 SAME pools, and a window of more than 257
  // positions (the 16-bit lanes are emptied into the int32 sums in between).
  Rng r(403);
  const int32_t layers[][6] = {{8, 8, 64, 8, 8, 0}, {16, 16, 32, 2, 2, 0}, {9, 9, 16, 3, 1, 1}, {20, 20, 8, 20, 1, 0},
                               {17, 15, 12, 17, 17, 0}};
  for (const auto &l : layers) {
    PoolCase c;
    c.in = {1, l[0], l[1], l[2]};
    c.p.kernel = l[3];
    c.p.stride = l[4];
    c.p.act_min = -128, c.p.act_max = 127;
    if (l[5]) {
      c.out = {1, (l[0] + l[4] - 1) / l[4], (l[1] + l[4] - 1) / l[4], l[2]};
      c.p.pad_top = std::max(0, (c.out.h - 1) * l[4] + l[3] - l[0]) / 2;
      c.p.pad_left = std::max(0, (c.out.w - 1) * l[4] + l[3] - l[1]) / 2;
    } else {
      c.out = {1, (l[0] - l[3]) / l[4] + 1, (l[1] - l[3]) / l[4] + 1, l[2]};
    }
    for (int rep = 0; rep < 4; ++rep) {
      expect_pool_equal(c, false, r);
      expect_pool_equal(c, true, r);
    }
  }
}

TEST(RuntimePoolMcu, GlobalAvgAndMeanEqualReference) {
  Rng r(404);
  for (int t = 0; t < 400; ++t) {
    SCOPED_TRACE(t);
    const int32_t big = r.below(10) == 0;
    const qp_dims_t in = {1, pick(r, 1, big ? 70 : 12), pick(r, 1, big ? 70 : 12),
                          r.below(2) ? 4 * pick(r, 1, big ? 4 : 20) : pick(r, 1, big ? 9 : 70)};
    const auto nin = static_cast<size_t>(in.h) * in.w * in.c;
    Input x(nin, t % 2 ? pick(r, 1, 3) : 0, r);
    std::vector<int8_t> ref(static_cast<size_t>(in.c) + 4, 0x5a), got(static_cast<size_t>(in.c) + 4, 0x5a);
    const int32_t lo = r.below(2) ? -128 : pick(r, -128, 127), hi = r.below(2) ? 127 : pick(r, lo, 127);
    ASSERT_EQ(qp_pool_global_avg_s8(lo, hi, &in, x.data, ref.data()), QP_STATUS_OK);
    ASSERT_EQ(qp_pool_global_avg_mcu_s8(lo, hi, &in, x.data, got.data()), QP_STATUS_OK);
    ASSERT_EQ(got, ref) << "global avg " << in.h << "x" << in.w << "x" << in.c;
    const qp_mean_params_t p = random_mean_params(r);
    std::fill(ref.begin(), ref.end(), 0x5a);
    std::fill(got.begin(), got.end(), 0x5a);
    const qp_status_t want = qp_mean_s8(&p, &in, x.data, ref.data());
    ASSERT_EQ(qp_mean_mcu_s8(&p, &in, x.data, got.data()), want);
    ASSERT_EQ(got, ref) << "mean " << in.h << "x" << in.w << "x" << in.c << " offsets " << p.input_offset << ","
                        << p.output_offset << " requant " << p.multiplier << "," << p.shift;
  }
}

TEST(RuntimePoolMcu, RefusesWhatTheReferenceRefuses) {
  const qp_dims_t in = {1, 4, 4, 8}, out = {1, 2, 2, 8};
  std::vector<int8_t> x(128, 1), o1(64), o2(64);
  const qp_pool_params_t good = {2, 2, -128, 127, 0, 0};
  std::vector<qp_pool_params_t> bad(6, good);
  bad[0].kernel = 0;
  bad[1].stride = 0;
  bad[2].act_min = 5, bad[2].act_max = 4;
  bad[3].pad_top = 2;
  bad[4].act_max = 128;
  bad[5].pad_left = -1;
  for (const auto &p : bad) {
    EXPECT_EQ(qp_pool_avg_mcu_s8(&p, &in, x.data(), &out, o2.data()), qp_pool_avg_s8(&p, &in, x.data(), &out, o1.data()));
    EXPECT_EQ(qp_pool_max_mcu_s8(&p, &in, x.data(), &out, o2.data()), qp_pool_max_s8(&p, &in, x.data(), &out, o1.data()));
    EXPECT_NE(qp_pool_avg_mcu_s8(&p, &in, x.data(), &out, o2.data()), QP_STATUS_OK);
  }
  const qp_dims_t too_far = {1, 4, 4, 8};  // the last window would start outside the input
  EXPECT_EQ(qp_pool_avg_mcu_s8(&good, &in, x.data(), &too_far, o2.data()), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_pool_avg_mcu_s8(&good, &in, nullptr, &out, o2.data()), QP_STATUS_BAD_ARGUMENT);
  const qp_dims_t other_c = {1, 2, 2, 4};
  EXPECT_EQ(qp_pool_max_mcu_s8(&good, &in, x.data(), &other_c, o2.data()), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_pool_global_avg_mcu_s8(3, 2, &in, x.data(), o2.data()), QP_STATUS_BAD_ARGUMENT);
  const qp_dims_t huge = {1, 4096, 4097, 1};
  EXPECT_EQ(qp_pool_global_avg_mcu_s8(-128, 127, &huge, x.data(), o2.data()), QP_STATUS_BAD_ARGUMENT);
  qp_mean_params_t mp = {0, 0, 1 << 30, 0};
  EXPECT_EQ(qp_mean_mcu_s8(&mp, &in, x.data(), o2.data()), QP_STATUS_OK);
  for (int k = 0; k < 4; ++k) {
    qp_mean_params_t b = mp;
    if (k == 0) b.input_offset = 129;
    if (k == 1) b.output_offset = 128;
    if (k == 2) b.shift = 31;
    if (k == 3) b.multiplier = -1;
    const qp_status_t want = qp_mean_s8(&b, &in, x.data(), o1.data());
    EXPECT_NE(want, QP_STATUS_OK);
    EXPECT_EQ(qp_mean_mcu_s8(&b, &in, x.data(), o2.data()), want);
  }
  EXPECT_EQ(qp_pool_rounded_mean_mcu_s32(5, 0), 0);
}
