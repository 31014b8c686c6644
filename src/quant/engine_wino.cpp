// Winograd F(2x2, 3x3) for 3x3 stride-1 Conv2D on the optimized engine's AVX2 kernel set, bit-exact to
// qp_conv_run_s8. The arithmetic is the MCU kernel's (src/runtime/qp_conv_wino_s8.c, whose comment has the
// proof), with its filter transform reused: qp_conv_pack_wino_s8 gives U = 4 G g G^T (|U| <= 9 * 127) and the
// bias folded with the input offset, bias + input_offset * sum(w); here they are only re-laid out.
//
// Per inference: the int8 input is staged as int16 raw values x [th][tw][cp] (th, tw = 2 * tiles + 2,
// cp = channels rounded up to 2) with the input zero point at every position outside the image (so the
// padded taps contribute w * (zp - zp) = 0 after the folded bias, as in the reference). Then per block of
// P output tiles (2x2 pixels each, tiles in row-major order):
//   1. V = B^T d B per tile, vectorised across channels, as int16 V[16 positions][P][cp]
//      (|d| <= 128, so every intermediate is <= 256 and |V| <= 512: exact in int16);
//   2. per output-channel tile (J * 8 channels, the AVX2 GEMM's tiling) and position, M = V x U, a
//      [P x cp] x [cp x J*8] product with vpmaddwd over pairs of input channels (each pair sum
//      <= 2 * 1143 * 512 < 2^31) and vpaddd; |M| <= cp * 1143 * 512 < 2^31 for cp <= 2048;
//   3. the output transform A^T M A per tile, 8 channels per register: 4 * sum(w * x) for the tile's 4
//      pixels, computed modulo 2^32, exact because the result fits int32 (4 * 9 * 127 * 128 * 2048 < 2^31);
//      an exact arithmetic shift by 2, + the folded bias (modulo 2^32: the reference accumulator fits
//      int32), then the AVX2 GEMM's requantization and clamp (rqf8_apply, the single rounding, where
//      OptWeights::rqf is set, else rq8_apply, the double rounding), each channel group's parameters loaded
//      once per block: the same accumulator as the GEMM's; pixels of an
//      edge tile outside the output are not stored.
// 16 multiplies per tile and input channel instead of the GEMM's 36, plus the transforms.
#include "quant/engine_wino.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "qp_runtime_mcu.h"
#include "quant/engine_avx2.h"

namespace qp::quant {

namespace {

struct Geometry {
  int nty, ntx, th, tw, cp;
  size_t staged;  // int16 elements of the staged input, rounded up to 16 (32-byte alignment of V)
};

Geometry geometry(const QLayer &l) {
  Geometry g{};
  g.nty = (l.out.h + 1) / 2;
  g.ntx = (l.out.w + 1) / 2;
  g.th = 2 * g.nty + 2;
  g.tw = 2 * g.ntx + 2;
  g.cp = (l.in.c + 1) / 2 * 2;
  g.staged = (static_cast<size_t>(g.th) * g.tw * g.cp + 15) / 16 * 16;
  return g;
}

constexpr int kMaxP = 8;  // tiles per register block: 8 (J = 1) or 6 (J = 2)

}  // namespace

bool wino_exact(const QLayer &l) {
  if (l.op != model::Op::Conv2D || l.kernel != 3 || l.stride != 1) return false;
  const qp_conv_params_t p = {
      -l.q.input.zero_point, l.q.output.zero_point, l.stride, l.pad_top, l.pad_left, l.q.act_min, l.q.act_max};
  const qp_dims_t f = {l.out.c, 3, 3, l.in.c}, in = {1, l.in.h, l.in.w, l.in.c};
  return qp_conv_wino_supported(&p, &f, &in) != 0 && l.out.h >= 1 && l.out.w >= 1 && l.q.act_min <= l.q.act_max;
}

// Measured per layer with bench_core BM_Conv3x3Avx2 ('same' C -> K at HW x HW, C in 3..64, K in 8..64, HW in
// 4..32, 1 thread; GEMM time / Winograd time, > 1 where Winograd wins):
// - 2026-12-06, AMD EPYC Zen 5 (the AVX2 kernel set forced), vectorised input transform and the single rounding's
//   signed form (commit 0401c06): C >= 16 wins for K >= 16 (1.08-1.89) and for K = 8 from 8x8 maps (1.14-1.56; 0.68-0.84
//   at 4x4); C <= 8 always loses (0.33-0.89): its channels do not fill one register of the transform, and the GEMM's
//   cost is small next to the transforms. (Before 0401c06 the benchmark's layer, which has no ReLU, requantized by the
//   double rounding, heavier in Winograd's per-pixel epilogue: C = 16 then lost for K <= 16.)
// - Earlier, 2026-12-03, AMD EPYC Zen 1 (256-bit operations split in two), scalar input transform: K >= 32 won
//   1.05-1.9 except 0.93-0.97 on 4x4 maps with C <= 8; K = 16 0.84-1.09; K = 8 0.53-0.93. Not rerun since.
bool wino_wins(const QLayer &l) {
  return wino_exact(l) && l.in.c >= 16 && (l.out.c >= 16 || l.out.h * l.out.w >= 64);
}

bool pack_wino(const QLayer &l, OptWeights &o) {
  if (!wino_exact(l) || o.kind != OptWeights::Kind::Gemm || o.J2 < 1) return false;
  const int ic = l.in.c, oc = l.out.c;
  const qp_dims_t f = {oc, 3, 3, ic};
  std::vector<int16_t> u(static_cast<size_t>(QP_CONV_WINO_PACKED_COUNT(oc, ic)));
  std::vector<int32_t> b(static_cast<size_t>(QP_CONV_MCU_PACKED_CHANNELS(oc)));
  if (qp_conv_pack_wino_s8(-l.q.input.zero_point, &f, l.q.weight.data(), l.q.bias.empty() ? nullptr : l.q.bias.data(), u.data(),
                           b.data()) != QP_STATUS_OK)
    return false;
  const Geometry g = geometry(l);
  const size_t tile = static_cast<size_t>(o.J2) * 8, pairs = static_cast<size_t>(g.cp) / 2;
  const size_t ocp2 = static_cast<size_t>(o.tiles2) * tile;
  o.wu.assign(ocp2 * 16 * pairs * 2, 0);  // [channel tile][16 positions][pair][J2 * 8 channels][2]
  for (size_t c = 0; c < static_cast<size_t>(oc); ++c)
    for (size_t i = 0; i < static_cast<size_t>(ic); ++i)
      for (size_t xi = 0; xi < 16; ++xi)  // the MCU layout: [oc / 4][ic][xi][oc % 4]
        o.wu[(((c / tile * 16 + xi) * pairs + i / 2) * tile + c % tile) * 2 + i % 2] =
            u[((c / 4) * static_cast<size_t>(ic) + i) * 64 + xi * 4 + c % 4];
  o.wbias.assign(std::max(ocp2, b.size()), 0);
  std::copy(b.begin(), b.begin() + oc, o.wbias.begin());
  o.wino_scratch = (g.staged + 16 * static_cast<size_t>(kMaxP) * g.cp) * 2;
  o.wino = true;
  return true;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
namespace {

QP_AVX2 inline __m256i ld(const int16_t *a) { return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a)); }
QP_AVX2 inline void st(int16_t *a, __m256i x) { _mm256_storeu_si256(reinterpret_cast<__m256i *>(a), x); }

// The raw int8 input as int16 [th][tw][cp], the zero point outside the image, 0 in the padding channel.
QP_AVX2 void stage(const QLayer &l, const Geometry &g, const int8_t *in, int16_t *s) {
  const int ih = l.in.h, iw = l.in.w, ic = l.in.c, cp = g.cp;
  const auto zp = static_cast<int16_t>(l.q.input.zero_point);
  for (int y = 0; y < g.th; ++y) {
    const int sy = y - l.pad_top;
    for (int x = 0; x < g.tw; ++x) {
      const int sx = x - l.pad_left;
      int16_t *d = s + (static_cast<size_t>(y) * g.tw + x) * cp;
      if (sy < 0 || sy >= ih || sx < 0 || sx >= iw) {
        std::fill_n(d, ic, zp);
      } else {
        const int8_t *src = in + (static_cast<size_t>(sy) * iw + sx) * ic;
        int c = 0;
        for (; c + 16 <= ic; c += 16)  // 16 channels per sign extension
          st(d + c, _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + c))));
        for (; c < ic; ++c) d[c] = src[c];
      }
      if (cp != ic) d[ic] = 0;
    }
  }
}

// V = B^T d B for the tile whose 4x4 patch starts at s, channels innermost: v[xi * vstride + c]. 16 channels
// per register (vpaddw / vpsubw wrap modulo 2^16 as the scalar int16 casts do; no value comes near it), the
// last cp % 16 channels one at a time. Measured: the scalar loop alone took as long as the Winograd GEMM.
QP_AVX2 void input_transform(const int16_t *s, int tw, int cp, int16_t *v, int vstride) {
  const size_t row = static_cast<size_t>(tw) * cp;
  const int16_t *r0 = s, *r1 = s + row, *r2 = s + 2 * row, *r3 = s + 3 * row;
  int c = 0;
  for (; c + 16 <= cp; c += 16) {
    __m256i t[4][4];  // B^T d: along the rows
    for (int k = 0; k < 4; ++k) {
      const size_t at = static_cast<size_t>(k) * cp + c;
      const __m256i d0 = ld(r0 + at), d1 = ld(r1 + at), d2 = ld(r2 + at), d3 = ld(r3 + at);
      t[0][k] = _mm256_sub_epi16(d0, d2);
      t[1][k] = _mm256_add_epi16(d1, d2);
      t[2][k] = _mm256_sub_epi16(d2, d1);
      t[3][k] = _mm256_sub_epi16(d1, d3);
    }
    for (int i = 0; i < 4; ++i) {  // then B along the columns
      st(v + (4 * i + 0) * vstride + c, _mm256_sub_epi16(t[i][0], t[i][2]));
      st(v + (4 * i + 1) * vstride + c, _mm256_add_epi16(t[i][1], t[i][2]));
      st(v + (4 * i + 2) * vstride + c, _mm256_sub_epi16(t[i][2], t[i][1]));
      st(v + (4 * i + 3) * vstride + c, _mm256_sub_epi16(t[i][1], t[i][3]));
    }
  }
  for (; c < cp; ++c) {
    int16_t t[4][4];  // B^T d: along the rows
    for (int k = 0; k < 4; ++k) {
      const int16_t d0 = r0[k * cp + c], d1 = r1[k * cp + c], d2 = r2[k * cp + c], d3 = r3[k * cp + c];
      t[0][k] = static_cast<int16_t>(d0 - d2);
      t[1][k] = static_cast<int16_t>(d1 + d2);
      t[2][k] = static_cast<int16_t>(d2 - d1);
      t[3][k] = static_cast<int16_t>(d1 - d3);
    }
    for (int i = 0; i < 4; ++i) {  // then B along the columns
      v[(4 * i + 0) * vstride + c] = static_cast<int16_t>(t[i][0] - t[i][2]);
      v[(4 * i + 1) * vstride + c] = static_cast<int16_t>(t[i][1] + t[i][2]);
      v[(4 * i + 2) * vstride + c] = static_cast<int16_t>(t[i][2] - t[i][1]);
      v[(4 * i + 3) * vstride + c] = static_cast<int16_t>(t[i][1] - t[i][3]);
    }
  }
}

// P tiles (V[16][P][cp]) x J * 8 output channels of channel tile t: M by position, then the output
// transform, requantization and stores for the first np tiles (t0: the first tile's index).
template <int J, int P>
QP_AVX2 void block(const QLayer &l, const OptWeights &o, const Geometry &g, const int16_t *v, int t, int t0, int np,
                   int8_t *out, int32_t *acc32) {
  constexpr int kRow = J * 16;  // int16 per pair row of wu
  const int pairs = g.cp / 2, vstride = P * g.cp;
  alignas(32) __m256i m[16][P][J];
  for (int xi = 0; xi < 16; ++xi) {
    __m256i acc[P][J];
    for (int p = 0; p < P; ++p)
      for (int j = 0; j < J; ++j) acc[p][j] = _mm256_setzero_si256();
    const int16_t *w = o.wu.data() + (static_cast<size_t>(t) * 16 + xi) * pairs * kRow;
    const int16_t *x = v + xi * vstride;
    for (int q = 0; q < pairs; ++q, w += kRow) {
      __m256i wv[J];
      for (int j = 0; j < J; ++j) wv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + j * 16));
      for (int p = 0; p < P; ++p) {
        int32_t d;  // one pair of input channels
        std::memcpy(&d, x + p * g.cp + 2 * q, 4);
        const __m256i u = _mm256_set1_epi32(d);
        for (int j = 0; j < J; ++j) acc[p][j] = _mm256_add_epi32(acc[p][j], _mm256_madd_epi16(u, wv[j]));
      }
    }
    for (int p = 0; p < P; ++p)
      for (int j = 0; j < J; ++j) m[xi][p][j] = acc[p][j];
  }
  const int oc = o.oc, oh = l.out.h, ow = l.out.w;
  for (int j = 0; j < J; ++j) {  // channel groups outermost: each group's requantization parameters loaded once
    const int c = (t * J + j) * 8;
    if (c >= oc) break;
    const int n = std::min(8, oc - c);
    const __m256i bias = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(o.wbias.data() + c));
    const Rqf8 qf = o.rqf != 0 ? rqf8_load(o, c) : Rqf8{};
    const Rq8 qd = o.rqf == 0 ? rq8_load(o, c) : Rq8{};
    for (int p = 0; p < np; ++p) {
      const int tile = t0 + p, oy = tile / g.ntx * 2, ox = tile % g.ntx * 2;
      const int rows = std::min(2, oh - oy), cols = std::min(2, ow - ox);
      __m256i a[4], b[4];  // A^T along the rows (modulo 2^32)
      for (int k = 0; k < 4; ++k) {
        a[k] = _mm256_add_epi32(_mm256_add_epi32(m[k][p][j], m[4 + k][p][j]), m[8 + k][p][j]);
        b[k] = _mm256_sub_epi32(_mm256_sub_epi32(m[4 + k][p][j], m[8 + k][p][j]), m[12 + k][p][j]);
      }
      const __m256i y[2][2] = {
          {_mm256_add_epi32(_mm256_add_epi32(a[0], a[1]), a[2]), _mm256_sub_epi32(_mm256_sub_epi32(a[1], a[2]), a[3])},
          {_mm256_add_epi32(_mm256_add_epi32(b[0], b[1]), b[2]), _mm256_sub_epi32(_mm256_sub_epi32(b[1], b[2]), b[3])}};
      for (int dy = 0; dy < rows; ++dy)
        for (int dx = 0; dx < cols; ++dx) {
          const __m256i acc = _mm256_add_epi32(_mm256_srai_epi32(y[dy][dx], 2), bias);
          if (acc32 != nullptr) {  // fused max pooling: the accumulator, [pixel][tiles2 * J * 8]
            const size_t at = (static_cast<size_t>(oy + dy) * ow + ox + dx) * static_cast<size_t>(o.tiles2 * J * 8);
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(acc32 + at + static_cast<size_t>(c)), acc);
            continue;
          }
          // The same accumulator as the GEMM's, the same requantization.
          const __m128i q = o.rqf == 1   ? rqf8_apply<false>(qf, acc)
                            : o.rqf == 2 ? rqf8_apply<true>(qf, acc)
                                         : rq8_apply(qd, acc);
          store8_s8(out + (static_cast<size_t>(oy + dy) * ow + ox + dx) * oc + c, q, n);
        }
    }
  }
}

template <int J, int P>
QP_AVX2 void run(const QLayer &l, const OptWeights &o, const Geometry &g, const int16_t *s, int16_t *v, int8_t *out,
                 int32_t *acc32) {
  const int ntiles = g.nty * g.ntx, vstride = P * g.cp;
  for (int t0 = 0; t0 < ntiles; t0 += P) {
    const int np = std::min(P, ntiles - t0);
    for (int p = 0; p < P; ++p) {
      if (p < np) {
        const int tile = t0 + p, y0 = tile / g.ntx * 2, x0 = tile % g.ntx * 2;
        input_transform(s + (static_cast<size_t>(y0) * g.tw + x0) * g.cp, g.tw, g.cp, v + p * g.cp, vstride);
      } else {
        for (int xi = 0; xi < 16; ++xi) std::fill_n(v + xi * vstride + p * g.cp, g.cp, int16_t{0});
      }
    }
    for (int t = 0; t < o.tiles2; ++t) block<J, P>(l, o, g, v, t, t0, np, out, acc32);
  }
}

}  // namespace

void wino_conv_avx2(const QLayer &l, const OptWeights &o, const int8_t *in, int8_t *out, uint8_t *scratch, int32_t *acc32) {
  const Geometry g = geometry(l);
  auto *s = reinterpret_cast<int16_t *>(scratch);
  int16_t *v = s + g.staged;
  stage(l, g, in, s);
  if (o.J2 == 1)
    run<1, 8>(l, o, g, s, v, out, acc32);
  else
    run<2, 6>(l, o, g, s, v, out, acc32);
}
#else
void wino_conv_avx2(const QLayer &, const OptWeights &, const int8_t *, int8_t *, uint8_t *, int32_t *) {
  fail("internal: the AVX2 Winograd kernel is not built for this target", "use the GEMM kernels");
}
#endif

}  // namespace qp::quant
