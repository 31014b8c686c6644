#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/rng.h"
#include "common/sha256.h"
#include "common/stats.h"

using namespace qp;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // 56 bytes: padding spills
  EXPECT_EQ(sha256_hex(two_blocks.data(), two_blocks.size()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string thousand(1000, 'a');
  EXPECT_EQ(sha256_hex(thousand.data(), thousand.size()), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(Wilson, KnownValues) {
  // Reference values computed independently from the closed form (z = 1.959964).
  auto a = wilson95(0, 50);
  EXPECT_NEAR(a.lo, 0.0, 1e-12);
  EXPECT_NEAR(a.hi, 0.0713476, 1e-6);
  auto b = wilson95(45, 50);
  EXPECT_NEAR(b.lo, 0.7863977, 1e-6);
  EXPECT_NEAR(b.hi, 0.9565242, 1e-6);
  auto c = wilson95(412, 427);
  EXPECT_NEAR(c.lo, 0.9428548, 1e-6);
  EXPECT_NEAR(c.hi, 0.9785979, 1e-6);
  auto d = wilson95(50, 50);
  EXPECT_NEAR(d.lo, 0.9286524, 1e-6);
  EXPECT_DOUBLE_EQ(d.hi, 1.0);
  auto e = wilson95(0, 0);
  EXPECT_EQ(e.lo, 0.0);
  EXPECT_EQ(e.hi, 1.0);
}

TEST(Rng, SameSeedSameStreamDifferentSeedDifferent) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= x != c.next();
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, RangesHold) {
  Rng r(7);
  std::set<uint32_t> seen;
  double sum = 0;
  for (int i = 0; i < 20000; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    const uint32_t k = r.below(6);
    ASSERT_LT(k, 6u);
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_NEAR(sum / 20000, 0.5, 0.01);
  EXPECT_NE(seed_mix(1, 0, 0), seed_mix(1, 0, 1));
  EXPECT_NE(seed_mix(1, 0, 0), seed_mix(1, 1, 0));
}

TEST(McNemar, WorkedExamples) {
  // b = 0, c = 5: p = 2 * 0.5^5 = 0.0625. b = 1, c = 9: p = 2 * (1 + 10) / 1024 = 0.021484375.
  EXPECT_NEAR(mcnemar_exact_p(0, 5), 0.0625, 1e-12);
  EXPECT_NEAR(mcnemar_exact_p(9, 1), 0.021484375, 1e-12);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(3, 3), 1.0);  // symmetric: capped at 1
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(0, 0), 1.0);
  EXPECT_LT(mcnemar_exact_p(10, 40), 1e-4);
}

// The one one-sided Clopper-Pearson bound (verify, the report and the pipeline's summary all call it).
TEST(ClopperPearson, UpperBoundKnownValues) {
  EXPECT_NEAR(clopper_pearson_upper95(0, 427), 1 - std::pow(0.05, 1.0 / 427), 1e-12);  // 0.00699
  EXPECT_NEAR(clopper_pearson_upper95(0, 427), 0.006991, 5e-7);
  EXPECT_NEAR(clopper_pearson_upper95(0, 50), 1 - std::pow(0.05, 1.0 / 50), 1e-12);  // 0.0582
  EXPECT_NEAR(clopper_pearson_upper95(1, 10), 0.3942, 5e-4);
  EXPECT_NEAR(clopper_pearson_upper95(1, 4), 0.7514, 5e-4);
  // At the bound, P(X <= k | n, p) is exactly 5%.
  for (const auto &[k, n] : std::vector<std::pair<int, int>>{{0, 1}, {1, 10}, {3, 30}, {5, 427}})
    EXPECT_NEAR(binomial_cdf(k, n, clopper_pearson_upper95(k, n)), 0.05, 1e-9) << k << "/" << n;
  EXPECT_DOUBLE_EQ(clopper_pearson_upper95(10, 10), 1.0);
  // n = 0: no trial bounds nothing, so the bound is 1 (never NaN): every rate up to 1 is consistent.
  EXPECT_DOUBLE_EQ(clopper_pearson_upper95(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(clopper_pearson_upper95(0, -3), 1.0);
  // The one-sided 95% bound lies inside the two-sided 95% interval's upper end (that one is a 97.5% bound).
  EXPECT_LT(clopper_pearson_upper95(2, 40), clopper_pearson95(2, 40).hi);
}

TEST(ClopperPearson, UpperBoundIsMonotoneInKAndN) {
  for (int n = 1; n <= 60; n += 7) {
    double prev = -1;
    for (int k = 0; k <= n; ++k) {  // more mismatches in the same n: a higher bound
      const double u = clopper_pearson_upper95(k, n);
      EXPECT_GT(u, prev) << k << "/" << n;
      EXPECT_GE(u, static_cast<double>(k) / n) << k << "/" << n;  // never below the observed rate
      EXPECT_LE(u, 1.0);
      prev = u;
    }
  }
  for (int k = 0; k <= 5; ++k) {  // the same mismatches in more images: a lower bound
    double prev = 2;
    for (int n = std::max(k, 1); n <= 500; n += 17) {
      const double u = clopper_pearson_upper95(k, n);
      EXPECT_LE(u, prev) << k << "/" << n;
      prev = u;
    }
  }
  EXPECT_LE(clopper_pearson_upper95(0, 1), clopper_pearson_upper95(0, 0));  // n = 0 continues the sequence at 1
}
