// The optimized host kernels for conv, dense and max pooling: bit-exact to the reference kernels of src/runtime.
//
// Reference: acc = bias + sum w * (x + input_offset), skipping padded positions, input_offset = -zp.
// Here the layer's input is first copied into a padded buffer of unsigned bytes u = x + 128 (padded
// positions hold the input zero point, so that x + input_offset = 0 there, as in the reference; the
// channel count is rounded up to a multiple of 4, the extra channels meeting zero weights). Then
//   sum w * (x + input_offset) = sum w * u - (zp + 128) * sum(w),
// an identity in integers, so acc starts at base[c] = bias[c] - (zp + 128) * sum(w[c]) and collects
// u8 x s8 products: the same int32 as the reference. The partial sums wrap modulo 2^32 at worst and
// the final value fits int32 (the quantizer proved |bias| + 255 * sum|w| < 2^31), so it is exact.
//
// Layout: a conv is a GEMM [output pixels] x [steps of 4 patch bytes] x [output channels]. The weights
// are packed as [channel tile][step][16 channels][4 bytes]: one 64-byte row per 16 channels and step,
// what vpdpbusd (AVX-512 VNNI) multiplies with 4 patch bytes broadcast to every lane. A register block
// holds P output pixels x J*16 channels of int32 accumulators; each broadcast patch dword feeds J
// instructions and each weight row P of them. The accumulators are requantized 16 channels at a time
// with TFLite's double rounding in 64-bit lanes (bit-exact to qp_requant_apply_dr_s32), clamped and
// narrowed to int8. A dense layer is the same GEMM on a 1x1 image.
//
// The AVX2 path runs the same GEMM on 16-bit words with exact vpmaddwd products (see its comment); the
// portable path runs it with plain loops and the reference requantization. On ARM64 the Neon path runs it
// with exact 16-bit smlal products and the NeonDot path with sdot on the int8 input (see their comment).
#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "qp_runtime_mcu.h"
#include "quant/engine_add.h"
#include "quant/engine_avx2.h"
#include "quant/engine_wino.h"
#include "quant/engine_opt_ops.h"
#include "quant/qmodel.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define QP_HAVE_VNNI_PATH 1
#endif
#if defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__)
#include <arm_neon.h>
#define QP_HAVE_NEON_PATH 1
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // Linux's bit for FEAT_DotProd in AT_HWCAP
#endif
#endif
#endif

namespace qp::quant {

namespace {

constexpr int kLanes = 16;    // int32 lanes of a zmm register: output channels per row of packed weights
constexpr int kAvx2MaxJ = 2;  // AVX2 tiles: up to 2 ymm registers of 8 int32 channels

int round_up(int v, int m) {
  return (v + m - 1) / m * m;
}

#ifdef QP_HAVE_VNNI_PATH
bool cpu_has_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}
#endif

// ---------------------------------------------------------------------------------------------
// Input staging: int8 NHWC -> padded buffer [ph][pw][icp] of u = x + 128, as bytes (VNNI, portable) or
// as 16-bit words (AVX2, whose vpmaddwd multiplies words); the same element offsets either way.
template <typename U>
void stage_input(const QLayer &l, const OptWeights &o, const int8_t *in, U *pad) {
  const int ih = o.dense ? 1 : l.in.h, iw = o.dense ? 1 : l.in.w, ic = l.in.c;
  const int pt = o.dense ? 0 : l.pad_top, pl = o.dense ? 0 : l.pad_left;
  const auto zp_u = static_cast<U>(l.q.input.zero_point + 128);
  const size_t icp = static_cast<size_t>(o.icp);
  // One pixel's icp staged values: the ic channels of s (nullptr: the zero point), then zeros up to icp. Written as
  // one loop per pixel: with few channels (a first layer's 3, padded to 4) a std::fill_n per pixel became a memset
  // call per pixel, which cost more than the staging itself.
  const auto put = [&](U *d, const int8_t *s) {
    for (size_t c = 0; c < icp; ++c)
      d[c] = c < static_cast<size_t>(ic) ? (s ? static_cast<U>(static_cast<uint8_t>(s[c]) ^ 0x80u) : zp_u) : U{0};
  };
  for (int y = 0; y < o.ph; ++y) {
    U *row = pad + static_cast<size_t>(y) * o.pw * icp;
    const int sy = y - pt;
    if (sy < 0 || sy >= ih) {
      for (int x = 0; x < o.pw; ++x) put(row + x * icp, nullptr);
      continue;
    }
    const int8_t *src = in + static_cast<size_t>(sy) * iw * ic;
    const int x0 = std::min(pl, o.pw), x1 = std::min(pl + iw, o.pw);  // columns [x0, x1) come from the input
    for (int x = 0; x < x0; ++x) put(row + x * icp, nullptr);
    for (int x = x1; x < o.pw; ++x) put(row + x * icp, nullptr);
    if (icp == static_cast<size_t>(ic)) {
      U *d = row + static_cast<size_t>(x0) * icp;
      const int8_t *s = src + static_cast<size_t>(x0 - pl) * ic;
      const size_t n = static_cast<size_t>(x1 - x0) * icp;
      for (size_t i = 0; i < n; ++i) d[i] = static_cast<U>(static_cast<uint8_t>(s[i]) ^ 0x80u);
    } else if (ic == 3 && icp == 4) {  // an RGB first layer: unrolled
      for (int x = x0; x < x1; ++x) {
        U *d = row + static_cast<size_t>(x) * 4;
        const int8_t *s = src + static_cast<size_t>(x - pl) * 3;
        d[0] = static_cast<U>(static_cast<uint8_t>(s[0]) ^ 0x80u);
        d[1] = static_cast<U>(static_cast<uint8_t>(s[1]) ^ 0x80u);
        d[2] = static_cast<U>(static_cast<uint8_t>(s[2]) ^ 0x80u);
        d[3] = U{0};
      }
    } else {
      for (int x = x0; x < x1; ++x) put(row + x * icp, src + static_cast<size_t>(x - pl) * ic);
    }
  }
}

// Element offset in the padded buffer of output pixel i's window origin.
inline int32_t pixel_offset(const OptWeights &o, int i) {
  const int y = i / o.ow, x = i % o.ow;
  return (y * o.stride * o.pw + x * o.stride) * o.icp;
}

// pixel_offset of output pixels i0 .. i0 + n - 1: one division per block instead of two per pixel (the divisions were
// most of gemm_vnni's own time on rps-cnn).
inline void pixel_offsets(const OptWeights &o, int i0, int n, int32_t *off) {
  int y = i0 / o.ow, x = i0 % o.ow;
  for (int p = 0; p < n; ++p) {
    off[p] = (y * o.stride * o.pw + x * o.stride) * o.icp;
    if (++x == o.ow) x = 0, ++y;
  }
}

inline int8_t narrow(int32_t v, const OptWeights &o) {
  return static_cast<int8_t>(std::clamp(v + o.out_zp, o.act_min, o.act_max));
}

// ---------------------------------------------------------------------------------------------
// Portable path: one output pixel at a time; its patch gathered contiguous (the steps' 4-byte groups in
// order), then one dot product per output channel against that channel's row (a reduction the
// compiler vectorises), and the double-rounding requantization inlined.
inline int32_t requant_dr(int32_t x, int32_t mult, int32_t left, int32_t right, int32_t rmask) {
  const auto shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  int32_t h;
  if (shifted == INT32_MIN && mult == INT32_MIN) {
    h = INT32_MAX;
  } else {
    const int64_t ab = static_cast<int64_t>(shifted) * mult;
    const int64_t v = ab + (ab >= 0 ? int64_t{1} << 30 : 1 - (int64_t{1} << 30));
    h = static_cast<int32_t>(v / (int64_t{1} << 31));  // truncates toward zero
  }
  const int32_t threshold = (rmask >> 1) + (h < 0 ? 1 : 0);
  return (h >> right) + ((h & rmask) > threshold ? 1 : 0);
}

__attribute__((always_inline)) inline void gemm_rows(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  const int n_pix = o.oh * o.ow, oc = o.oc, kp = o.steps * 4;
  std::vector<uint8_t> patch(static_cast<size_t>(kp));
  for (int i = 0; i < n_pix; ++i) {
    const uint8_t *src = pad + pixel_offset(o, i);
    for (int s = 0; s < o.steps; ++s) std::memcpy(patch.data() + 4 * s, src + o.soff[static_cast<size_t>(s)], 4);
    int8_t *dst = out + static_cast<size_t>(i) * oc;
    for (int c = 0; c < oc; ++c) {
      const auto cc = static_cast<size_t>(c);
      const int8_t *w = o.wrow.data() + cc * static_cast<size_t>(kp);
      int32_t d = 0;  // |d| <= 255 * sum|w| < 2^31 (the quantizer's overflow proof)
      for (int k = 0; k < kp; ++k) d += static_cast<int32_t>(patch[static_cast<size_t>(k)]) * w[k];
      const auto acc = static_cast<int32_t>(static_cast<uint32_t>(o.base[cc]) + static_cast<uint32_t>(d));
      dst[c] = narrow(requant_dr(acc, o.mult[cc], o.left[cc], o.right[cc], o.rmask[cc]), o);
    }
  }
}

void gemm_portable(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  gemm_rows(o, pad, out);
}

#ifdef QP_HAVE_VNNI_PATH
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

bool cpu_has_avx_vnni() {  // VEX-encoded vpdpbusd on 256 bits (Intel client CPUs from Alder Lake on, AMD Zen 4 on)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni");
}
#endif

void maxpool_portable(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, iw = l.in.w, c = l.in.c, oh = l.out.h, ow = l.out.w;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * ow + x) * c;
      std::memset(d, 0x80, static_cast<size_t>(c));  // -128, the reference's starting value
      for (int ky = 0; ky < k; ++ky)
        for (int kx = 0; kx < k; ++kx) {
          const int8_t *src = in + (static_cast<size_t>(y * s + ky) * iw + x * s + kx) * c;
          for (int i = 0; i < c; ++i) d[i] = std::max(d[i], src[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AVX2 path. No saturating vpmaddubsw: the staged input is 16-bit words u in [0, 255], the weights
// sign-extended words, and vpmaddwd forms u0 * w0 + u1 * w1 exactly (|.| <= 2 * 255 * 128 < 2^31) per
// int32 lane; vpaddd collects. A step's 4 bytes are two such pairs (two rows of w16). A register block
// holds P pixels x J*8 channels; each broadcast pair feeds J vpmaddwd and each weight row P of them.
#ifdef QP_HAVE_VNNI_PATH
// load8, rq8_load, rq8_apply, requant8_avx2: quant/engine_avx2.h (shared with engine_wino.cpp).

// acc += the exact products u0 * w0 + u1 * w1 of each lane's pair (vpmaddwd, then vpaddd), written as instructions: with
// the intrinsics GCC 12 summed two steps' products before adding them to the accumulators, ran out of the 16 ymm
// registers and kept 10 of block_avx2<2, 6>'s 12 accumulators on the stack (a load and a store each per step). The
// Winograd GEMM (engine_wino.cpp) keeps the intrinsics: its loop was clean and measured the same either way.
QP_AVX2 inline __m256i madd_acc(__m256i acc, __m256i u, __m256i w) {
  __m256i t;
  __asm__("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(t) : "x"(u), "x"(w));
  return acc;
}

// P output pixels (window origins off[0..P)) x J*8 channels of AVX2 tile t. acc32 (fused max pooling): the int32
// accumulators instead, [pixel][tiles2 * J * 8], unrequantized.
template <int J, int P>
QP_AVX2 void block_avx2(const OptWeights &o, const uint16_t *pad, const int32_t *off, int t, int8_t *out, const int pix0,
                        int32_t *acc32 = nullptr) {
  constexpr int kRow = J * 8 * 2;  // int16 per row of w16: J*8 channels x one pair
  __m256i acc[P][J];
  const int c0 = t * J * 8;
  for (int j = 0; j < J; ++j) {
    const __m256i b = load8(o.base, c0 + j * 8);
    for (int p = 0; p < P; ++p) acc[p][j] = b;
  }
  const uint16_t *src[P];
  for (int p = 0; p < P; ++p) src[p] = pad + off[p];
  const int16_t *w = o.w16.data() + static_cast<size_t>(t) * o.steps * 2 * kRow;
  const int32_t *soff = o.soff.data();
  for (int s = 0; s < o.steps; ++s) {
    const int32_t so = soff[s];
    for (int half = 0; half < 2; ++half, w += kRow) {
      __m256i wv[J];
      for (int j = 0; j < J; ++j) wv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + j * 16));
      for (int p = 0; p < P; ++p) {
        int32_t d;  // two staged words: one input pair
        std::memcpy(&d, src[p] + so + 2 * half, 4);
        const __m256i u = _mm256_set1_epi32(d);
        for (int j = 0; j < J; ++j) acc[p][j] = madd_acc(acc[p][j], u, wv[j]);
      }
    }
  }
  for (int j = 0; j < J; ++j) {
    const int c = c0 + j * 8;
    if (c >= o.oc) break;
    const int n = std::min(8, o.oc - c);
    if (acc32 != nullptr) {
      for (int p = 0; p < P; ++p) {
        const size_t at = static_cast<size_t>(pix0 + p) * static_cast<size_t>(o.tiles2 * J * 8) + static_cast<size_t>(c);
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(acc32 + at), acc[p][j]);
      }
      continue;
    }
    const auto oc = static_cast<size_t>(o.oc);  // a local: the int8 stores may alias o's fields
    int8_t *dst = out + static_cast<size_t>(pix0) * oc + static_cast<size_t>(c);
    if (o.rqf != 0) {
      const Rqf8 q = rqf8_load(o, c);
      if (o.rqf == 1)
        for (int p = 0; p < P; ++p, dst += oc) store8_s8(dst, rqf8_apply<false>(q, acc[p][j]), n);
      else
        for (int p = 0; p < P; ++p, dst += oc) store8_s8(dst, rqf8_apply<true>(q, acc[p][j]), n);
      continue;
    }
    const Rq8 q = rq8_load(o, c);
    for (int p = 0; p < P; ++p, dst += oc) store8_s8(dst, rq8_apply(q, acc[p][j]), n);
  }
}

template <int J, int P>
QP_AVX2 void gemm_avx2_j(const OptWeights &o, const uint16_t *pad, int8_t *out, int32_t *acc32) {
  const int n_pix = o.oh * o.ow;
  int32_t off[P];
  int i = 0;
  for (; i + P <= n_pix; i += P) {
    pixel_offsets(o, i, P, off);
    for (int t = 0; t < o.tiles2; ++t) block_avx2<J, P>(o, pad, off, t, out, i, acc32);
  }
  if (i < n_pix && n_pix >= P) {  // the last < P pixels: one more full block ending at the last pixel, which writes
    pixel_offsets(o, n_pix - P, P, off);  // some pixels again with the same bytes (faster than block_avx2<J, 1>)
    for (int t = 0; t < o.tiles2; ++t) block_avx2<J, P>(o, pad, off, t, out, n_pix - P, acc32);
    return;
  }
  for (; i < n_pix; ++i) {  // a map of fewer than P pixels, one at a time
    off[0] = pixel_offset(o, i);
    for (int t = 0; t < o.tiles2; ++t) block_avx2<J, 1>(o, pad, off, t, out, i, acc32);
  }
}

QP_AVX2 void gemm_avx2(const OptWeights &o, const uint16_t *pad, int8_t *out, int32_t *acc32 = nullptr) {
  switch (o.J2) {
    case 1: gemm_avx2_j<1, 8>(o, pad, out, acc32); break;
    default: gemm_avx2_j<2, 6>(o, pad, out, acc32); break;
  }
}

QP_AVX2 void maxpool_avx2(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, iw = l.in.w, c = l.in.c, oh = l.out.h, ow = l.out.w;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * ow + x) * c;
      const auto at = [&](int ky, int kx) { return in + (static_cast<size_t>(y * s + ky) * iw + x * s + kx) * c; };
      int i = 0;
      for (; i + 32 <= c; i += 32) {
        __m256i v = _mm256_set1_epi8(-128);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx)
            v = _mm256_max_epi8(v, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at(ky, kx) + i)));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(d + i), v);
      }
      for (; i + 16 <= c; i += 16) {
        __m128i v = _mm_set1_epi8(-128);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) v = _mm_max_epi8(v, _mm_loadu_si128(reinterpret_cast<const __m128i *>(at(ky, kx) + i)));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(d + i), v);
      }
      for (; i < c; ++i) {  // the last < 16 channels
        int8_t m = -128;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) m = std::max(m, at(ky, kx)[i]);
        d[i] = m;
      }
    }
}
#endif

// ---------------------------------------------------------------------------------------------
// AVX-512 VNNI path.
#ifdef QP_HAVE_VNNI_PATH
#define QP_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
// GCC 12's AVX-512 headers build vectors from _mm512_undefined_*() and trip -Wmaybe-uninitialized (-Wuninitialized once
// inlined into a caller here).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"


// Requantization: rq16_load and rq16_apply (engine_avx2.h).

// acc += u (unsigned bytes) . w (signed bytes), four products per lane: vpdpbusd written as an instruction rather than
// _mm512_dpbusd_epi32, whose tied accumulator GCC 12 copied to a new register and back around every instruction of
// the 16-accumulator blocks (32 vmovdqa per 16 vpdpbusd in block_vnni<4, 4>'s loop, and a spill to the stack).
QP_VNNI inline __m512i dpbusd512(__m512i acc, __m512i u, __m512i w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(w));
  return acc;
}

// P output pixels (window origins off[0..P)) x J*16 channels of tile t, every loop over P and J unrolled (without
// the pragmas GCC kept some accumulators in memory: rps-resnet ~95 -> ~86 us per image). acc32 (fused max
// pooling): the int32 accumulators instead, [pixel][tiles * J * 16], unrequantized.
template <int J, int P>
QP_VNNI void block_vnni(const OptWeights &o, const uint8_t *pad, const int32_t *off, int t, int8_t *out, const int pix0,
                        int32_t *acc32 = nullptr) {
  __m512i acc[P][J];
  const int c0 = t * J * kLanes;
  for (int j = 0; j < J; ++j) {
    const __m512i b = _mm512_loadu_si512(o.base.data() + c0 + j * kLanes);
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) acc[p][j] = b;
  }
  const uint8_t *src[P];
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) src[p] = pad + off[p];
  const int8_t *w = o.w.data() + static_cast<size_t>(t) * o.steps * J * kLanes * 4;
  const int32_t *soff = o.soff.data();
  for (int s = 0; s < o.steps; ++s, w += J * kLanes * 4) {
    __m512i wv[J];
    for (int j = 0; j < J; ++j) wv[j] = _mm512_loadu_si512(w + j * kLanes * 4);
    const int32_t so = soff[s];
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) {
      int32_t d;
      std::memcpy(&d, src[p] + so, 4);
      const __m512i u = _mm512_set1_epi32(d);
#pragma GCC unroll 4
      for (int j = 0; j < J; ++j) acc[p][j] = dpbusd512(acc[p][j], u, wv[j]);
    }
  }
  for (int j = 0; j < J; ++j) {
    const int c = c0 + j * kLanes;
    if (c >= o.oc) break;
    if (acc32 != nullptr) {
      const auto ocs = static_cast<size_t>(o.tiles * J * kLanes);
#pragma GCC unroll 32
      for (int p = 0; p < P; ++p) _mm512_storeu_si512(acc32 + static_cast<size_t>(pix0 + p) * ocs + c, acc[p][j]);
      continue;
    }
    const __mmask16 m = o.oc - c >= kLanes ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (o.oc - c)) - 1);
    const auto oc = static_cast<size_t>(o.oc);  // a local: the int8 stores may alias o's fields, which GCC reloaded
    int8_t *dst = out + static_cast<size_t>(pix0) * oc + static_cast<size_t>(c);
    if (o.rqf != 0) {
      const Rqf16 q = rqf16_load(o, c);
      if (o.rqf == 1) {
#pragma GCC unroll 32
        for (int p = 0; p < P; ++p, dst += oc) _mm_mask_storeu_epi8(dst, m, rqf16_apply<false>(q, acc[p][j]));
      } else {
#pragma GCC unroll 32
        for (int p = 0; p < P; ++p, dst += oc) _mm_mask_storeu_epi8(dst, m, rqf16_apply<true>(q, acc[p][j]));
      }
      continue;
    }
    const Rq16 q = rq16_load(o, c);
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p, dst += oc) _mm_mask_storeu_epi8(dst, m, rq16_apply(q, acc[p][j]));
  }
}

// stage_input for the VNNI set where every staged value is a channel (icp == ic: any channel count that is a multiple of
// 4): a row of the padded buffer is a border run of zero points, the input row's bytes with the sign bit flipped
// (u = x + 128), and another border run, written 64 bytes per step with a masked tail. The generic stage_input wrote
// the border one pixel at a time and the interior 16 bytes at a time. An RGB layer (ic = 3 staged as 4) the same way,
// its pixels spread to four bytes; other layers go to stage_input.
QP_VNNI void fill_bytes_512(uint8_t *d, size_t n, __m512i v) {
  for (; n >= 64; n -= 64, d += 64) _mm512_storeu_si512(d, v);
  if (n > 0) _mm512_mask_storeu_epi8(d, (__mmask64{1} << n) - 1, v);  // n < 64
}

QP_VNNI void flip_copy_512(uint8_t *d, const int8_t *s, size_t n) {
  const __m512i sign = _mm512_set1_epi8(-128);
  for (; n >= 64; n -= 64, d += 64, s += 64) _mm512_storeu_si512(d, _mm512_xor_si512(_mm512_loadu_si512(s), sign));
  if (n > 0) {
    const __mmask64 m = (__mmask64{1} << n) - 1;  // n < 64
    _mm512_mask_storeu_epi8(d, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, s), sign));
  }
}

// An RGB first layer's pixels (ic = 3 staged as 4, the fourth byte 0): 16 pixels (48 bytes) per step, the three bytes
// of each spread to four (vpermd puts 12 bytes in each 128-bit lane, vpshufb makes the gaps, zero) and flipped; the
// last < 16 masked.
QP_VNNI void flip_copy_rgb_512(uint8_t *d, const int8_t *s, int pixels) {
  const __m512i idx = _mm512_setr_epi32(0, 1, 2, 0, 3, 4, 5, 0, 6, 7, 8, 0, 9, 10, 11, 0);
  const __m512i spread = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, -128, 3, 4, 5, -128, 6, 7, 8, -128, 9, 10, 11, -128));
  const __m512i flip = _mm512_set1_epi32(0x00808080);
  for (int x = 0; x < pixels; x += 16, s += 48, d += 64) {
    const int n = std::min(16, pixels - x);
    const __m512i v = _mm512_maskz_loadu_epi8((__mmask64{1} << (3 * n)) - 1, s);  // 3n <= 48
    const __m512i u = _mm512_xor_si512(_mm512_shuffle_epi8(_mm512_permutexvar_epi32(idx, v), spread), flip);
    _mm512_mask_storeu_epi8(d, n == 16 ? ~__mmask64{0} : (__mmask64{1} << (4 * n)) - 1, u);
  }
}

// 16-channel pixels spread to four runs of 4-byte groups (gemm_t16's staging: run g, `run` bytes after run g - 1, holds
// channels 4g .. 4g + 3 of each column), flipped: 16 pixels per step, each run's 16 dwords taken from the four source
// vectors by two vpermt2d and a blend; the last < 16 pixels masked.
QP_VNNI void flip_spread_16ch_512(uint8_t *d, size_t run, const int8_t *s, int pixels) {
  const __m512i sign = _mm512_set1_epi8(-128);
  __m512i idx[4];  // lane p < 8: dword g + 4p of the first two source vectors; p >= 8: of the last two
  for (int g = 0; g < 4; ++g)
    idx[g] = _mm512_setr_epi32(g, g + 4, g + 8, g + 12, g + 16, g + 20, g + 24, g + 28, g, g + 4, g + 8, g + 12, g + 16,
                               g + 20, g + 24, g + 28);
  for (int x = 0; x < pixels; x += 16, s += 256, d += 64) {
    const int n = std::min(16, pixels - x);
    __m512i v[4];
    for (int k = 0; k < 4; ++k) {
      const int bytes = std::clamp((n - 4 * k) * 16, 0, 64);
      v[k] = _mm512_maskz_loadu_epi8(bytes == 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1, s + 64 * k);
    }
    const __mmask16 m = n == 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << n) - 1);
    for (int g = 0; g < 4; ++g) {
      const __m512i u = _mm512_mask_blend_epi32(__mmask16{0xFF00}, _mm512_permutex2var_epi32(v[0], idx[g], v[1]),
                                                _mm512_permutex2var_epi32(v[2], idx[g], v[3]));
      _mm512_mask_storeu_epi32(d + static_cast<size_t>(g) * run, m, _mm512_xor_si512(u, sign));
    }
  }
}

// Every padded row is a border run, the input row's pixels (flip_copy_512, or flip_copy_rgb_512 for an RGB layer whose
// border pixels are the zero point in three bytes and 0 in the fourth, as stage_input's) and another border run. t16
// (gemm_t16's staging): the row as groups = icp / 4 runs of pw 4-byte groups, run g holding channels 4g .. 4g + 3; one
// group is the layout above itself, four (16 channels) spread by flip_spread_16ch_512, each run with its own borders.
QP_VNNI void stage_input_vnni(const QLayer &l, const OptWeights &o, const int8_t *in, uint8_t *pad, bool t16 = false) {
  const int ih = o.dense ? 1 : l.in.h, iw = o.dense ? 1 : l.in.w, ic = l.in.c;
  const bool rgb = !o.dense && ic == 3 && o.icp == 4;
  if (o.icp != ic && !rgb) return stage_input(l, o, in, pad);
  const int pt = o.dense ? 0 : l.pad_top, pl = o.dense ? 0 : l.pad_left;
  const auto zp = static_cast<uint32_t>(static_cast<uint8_t>(l.q.input.zero_point + 128));
  const __m512i border = _mm512_set1_epi32(static_cast<int>(rgb ? zp | zp << 8 | zp << 16 : zp * 0x01010101u));
  const int runs = t16 ? o.icp / 4 : 1;  // t16_takes: 1 or 4
  const size_t px = static_cast<size_t>(o.icp / runs), run = static_cast<size_t>(o.pw) * px, row_bytes = run * runs;
  const int x0 = std::min(pl, o.pw), x1 = std::min(pl + iw, o.pw);  // columns [x0, x1) come from the input
  for (int y = 0; y < o.ph; ++y) {
    uint8_t *row = pad + static_cast<size_t>(y) * row_bytes;
    const int sy = y - pt;
    if (sy < 0 || sy >= ih) {
      fill_bytes_512(row, row_bytes, border);
      continue;
    }
    for (int g = 0; g < runs; ++g) {
      fill_bytes_512(row + g * run, static_cast<size_t>(x0) * px, border);
      fill_bytes_512(row + g * run + static_cast<size_t>(x1) * px, static_cast<size_t>(o.pw - x1) * px, border);
    }
    const int8_t *src = in + (static_cast<size_t>(sy) * iw + static_cast<size_t>(x0 - pl)) * static_cast<size_t>(ic);
    if (runs > 1) {
      flip_spread_16ch_512(row + static_cast<size_t>(x0) * px, run, src, x1 - x0);
    } else if (rgb) {
      flip_copy_rgb_512(row + static_cast<size_t>(x0) * px, src, x1 - x0);
    } else {
      flip_copy_512(row + static_cast<size_t>(x0) * px, src, static_cast<size_t>(x1 - x0) * px);
    }
  }
}

// Blocks of P pixels, then the remaining < P pixels in blocks of 4 and 1 (one pixel at a time leaves only J
// accumulator chains, and vpdpbusd's latency sets the pace).
template <int J, int P>
QP_VNNI void gemm_vnni_j(const OptWeights &o, const uint8_t *pad, int8_t *out, int32_t *acc32) {
  const int n_pix = o.oh * o.ow;
  int32_t off[P];
  int i = 0;
  for (; i + P <= n_pix; i += P) {
    pixel_offsets(o, i, P, off);
    for (int t = 0; t < o.tiles; ++t) block_vnni<J, P>(o, pad, off, t, out, i, acc32);
  }
  if constexpr (P > 4) {
    for (; i + 4 <= n_pix; i += 4) {
      pixel_offsets(o, i, 4, off);
      for (int t = 0; t < o.tiles; ++t) block_vnni<J, 4>(o, pad, off, t, out, i, acc32);
    }
  }
  for (; i < n_pix; ++i) {
    off[0] = pixel_offset(o, i);
    for (int t = 0; t < o.tiles; ++t) block_vnni<J, 1>(o, pad, off, t, out, i, acc32);
  }
}

// Register blocks of 8 to 18 accumulators (J * P). Measured on an AMD EPYC (AVX-512 VNNI) VM: 24 accumulators
// (P = 24 / 12 / 6 for J = 1 / 2 / 4) ran rps-resnet 2-15 % slower than these.
QP_VNNI void gemm_vnni(const OptWeights &o, const uint8_t *pad, int8_t *out, int32_t *acc32 = nullptr) {
  switch (o.J) {
    case 1: gemm_vnni_j<1, 8>(o, pad, out, acc32); break;
    case 2: gemm_vnni_j<2, 8>(o, pad, out, acc32); break;
    case 3: gemm_vnni_j<3, 6>(o, pad, out, acc32); break;
    default: gemm_vnni_j<4, 4>(o, pad, out, acc32); break;
  }
}

// The 16-channel stride-1 layers, transposed (t16_takes: Conv2D, J = 1 with exactly 16 output channels, stride 1, rows
// of >= 16 output pixels, an input of 1 to 4 channels (RGB included) or of 16: the 32 x 32 stages of rps-resnet and
// ResNet-8). block_vnni<1, 8> needs a vpbroadcastd of a pixel's four input bytes before every vpdpbusd; measured on the
// AMD EPYC (Zen 5) VM in a loop of 16 independent chains, that pair costs 0.24 ns per vpdpbusd against 0.18 ns for
// vpdpbusd alone or with its broadcast embedded in the memory operand. Here one vector holds 16 pixels of one output
// row and there is one accumulator per output channel, so one load of the staged input serves 16 vpdpbusd whose weights
// come from memory as an embedded broadcast ({1to16}). The input is staged [row][group of 4 channels][column] [4 bytes]
// (stage_input_vnni with t16), so the 16 pixels' bytes of one step are 64 consecutive bytes. The packed weights are
// block_vnni's (J = 1: [step][16 channels][4 bytes]). The accumulators, [channel][pixel], are requantized one channel
// at a time (its parameters broadcast once per layer, T16Rq), saturated to int8 by two packs, clamped, and transposed
// in registers to the output's [pixel][channel]. Tried and dropped: the same for every multiple of 16 output channels
// (16-channel sub-tiles, a gather staging for other group counts): the 32-channel rps-resnet layer ran no faster than
// block_vnni<2, 8> and the staging cost more.
QP_VNNI inline __m512i dpbusd512_bcast(__m512i acc, __m512i u, const int8_t *w4) {
  struct Four {
    int8_t b[4];
  };
  __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*reinterpret_cast<const Four *>(w4)));
  return acc;
}

bool t16_takes(const QLayer &l, const OptWeights &o) {
  const int groups = o.icp / 4;
  return o.kind == OptWeights::Kind::Gemm && !o.dense && l.op == model::Op::Conv2D && o.stride == 1 && o.J == 1 &&
         o.oc == kLanes && o.ow >= kLanes && (groups == 1 || (groups == 4 && l.in.c == 16)) && o.steps <= 256 &&
         o.steps % groups == 0;
}

// The layer's per-channel single-rounding requantization as t16's epilogue reads it: channel c's parameters broadcast
// to every lane once per layer (OptWeights::rqk16 / rqs16 hold them interleaved for 16-lane vectors: even channels
// first; the odd lanes' shift is 32 less, as in rqf16_load).
struct T16Rq {
  __m512i mult[kLanes], k[kLanes], se[kLanes], so[kLanes];
};

QP_VNNI void t16_rq(const OptWeights &o, T16Rq &t) {
  if (o.rqf == 0) return;
  for (int c = 0; c < kLanes; ++c) {
    const auto g = static_cast<size_t>((c % 2) * 8 + c / 2);
    const int64_t sh = o.rqs16[g] + (c % 2 != 0 ? 32 : 0);
    t.mult[c] = _mm512_set1_epi32(o.mult[static_cast<size_t>(c)]);  // so the high half of each 64-bit lane holds it too
    t.k[c] = _mm512_set1_epi64(o.rqk16[g]);
    t.se[c] = _mm512_set1_epi64(sh);
    t.so[c] = _mm512_set1_epi64(sh - 32);
  }
}

// Channel c's int32 results for the 16 pixels of acc: the single rounding (Rqf 1 / 2) or TFLite's double rounding.
template <int Rqf>
QP_VNNI __m512i t16_requant(const OptWeights &o, const T16Rq &t, const Rq16 &shared, int c, __m512i acc) {
  if constexpr (Rqf != 0) {
    return rqf16_core<Rqf == 2>(acc, t.mult[c], t.mult[c], t.k[c], t.k[c], t.se[c], t.so[c],
                                _mm512_set1_epi64(-(int64_t{1} << 30)), _mm512_set1_epi64(int64_t{1} << 31),
                                __mmask16{0xAAAA});
  }
  const auto a = static_cast<size_t>(c);
  Rq16 q = shared;
  q.left = _mm512_set1_epi32(o.left[a]);
  q.mult = q.mult_odd = _mm512_set1_epi32(o.mult[a]);  // so the high half of every 64-bit lane holds it too
  q.right = _mm512_set1_epi32(o.right[a]);
  q.rmask = _mm512_set1_epi32(o.rmask[a]);
  q.half = _mm512_srai_epi32(q.rmask, 1);
  q.sat = o.mult[a] == INT32_MIN ? __mmask16{0xFFFF} : __mmask16{0};
  return rq16_apply32(q, acc);
}

// n (1..16) pixels of one output row: src its first pixel's window origin in the t16 staging, dst its first output
// pixel, soff the steps' offsets in that staging.
template <int Rqf>
QP_VNNI void block_t16(const OptWeights &o, const T16Rq &t, const Rq16 &shared, const uint8_t *src, const int32_t *soff,
                       int n, int8_t *dst) {
  __m512i acc[kLanes];
#pragma GCC unroll 16
  for (int c = 0; c < kLanes; ++c) acc[c] = _mm512_set1_epi32(o.base[static_cast<size_t>(c)]);
  const __mmask16 m = n >= kLanes ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << n) - 1);
  const int8_t *w = o.w.data();
  for (int s = 0; s < o.steps; ++s, w += kLanes * 4) {
    const __m512i u = _mm512_maskz_loadu_epi32(m, src + soff[s]);
#pragma GCC unroll 16
    for (int c = 0; c < kLanes; ++c) acc[c] = dpbusd512_bcast(acc[c], u, w + c * 4);
  }
  // Channels 4a .. 4a + 3 -> v[a]: in each 128-bit lane l (pixels 4l .. 4l + 3) bytes [channel][pixel], by two
  // saturating packs (exact: the clamp below lies within int8), then [pixel][channel] by one in-lane shuffle.
  const __m512i lo = _mm512_set1_epi8(static_cast<char>(o.act_min));
  const __m512i hi = _mm512_set1_epi8(static_cast<char>(o.act_max));
  const __m512i to_pixel_major =
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  __m512i v[4];
#pragma GCC unroll 4
  for (int a = 0; a < 4; ++a) {
    const __m512i r01 = _mm512_packs_epi32(t16_requant<Rqf>(o, t, shared, 4 * a, acc[4 * a]),
                                           t16_requant<Rqf>(o, t, shared, 4 * a + 1, acc[4 * a + 1]));
    const __m512i r23 = _mm512_packs_epi32(t16_requant<Rqf>(o, t, shared, 4 * a + 2, acc[4 * a + 2]),
                                           t16_requant<Rqf>(o, t, shared, 4 * a + 3, acc[4 * a + 3]));
    const __m512i b = _mm512_min_epi8(_mm512_max_epi8(_mm512_packs_epi16(r01, r23), lo), hi);
    v[a] = _mm512_shuffle_epi8(b, to_pixel_major);  // lane l, dword p: pixel 4l + p, channels 4a .. 4a + 3
  }
  // y[p], lane l: pixel 4l + p, all 16 channels (a 4 x 4 dword transpose within each lane).
  const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
  const __m512i y0 = _mm512_unpacklo_epi64(t0, t2), y1 = _mm512_unpackhi_epi64(t0, t2);
  const __m512i y2 = _mm512_unpacklo_epi64(t1, t3), y3 = _mm512_unpackhi_epi64(t1, t3);
  // out[k], lane p: pixel 4k + p (a 4 x 4 transpose of 128-bit lanes).
  constexpr int kLo = _MM_SHUFFLE(1, 0, 1, 0), kHi = _MM_SHUFFLE(3, 2, 3, 2);
  constexpr int kEven = _MM_SHUFFLE(2, 0, 2, 0), kOdd = _MM_SHUFFLE(3, 1, 3, 1);
  const __m512i u0 = _mm512_shuffle_i32x4(y0, y1, kLo), u1 = _mm512_shuffle_i32x4(y2, y3, kLo);
  const __m512i u2 = _mm512_shuffle_i32x4(y0, y1, kHi), u3 = _mm512_shuffle_i32x4(y2, y3, kHi);
  const __m512i out[4] = {_mm512_shuffle_i32x4(u0, u1, kEven), _mm512_shuffle_i32x4(u0, u1, kOdd),
                          _mm512_shuffle_i32x4(u2, u3, kEven), _mm512_shuffle_i32x4(u2, u3, kOdd)};
  if (n == kLanes) {
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(dst + 64 * k, out[k]);
    return;
  }
  for (int k = 0; k < 4 && 4 * k < n; ++k) {
    const int bytes = std::min(64, (n - 4 * k) * 16);
    _mm512_mask_storeu_epi8(dst + 64 * k, bytes == 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1, out[k]);
  }
}

QP_VNNI void gemm_t16(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  const int groups = o.icp / 4;
  const int32_t row_bytes = o.pw * o.icp;
  int32_t soff[256];  // t16_takes: steps <= 256
  for (int s = 0; s < o.steps; ++s) {  // o.soff's ky * row + kx * icp + g * 4, here ky * row + g * pw * 4 + kx * 4
    const int g = s % groups, rest = o.soff[static_cast<size_t>(s)] - g * 4;
    const int ky = rest / row_bytes, kx = rest % row_bytes / o.icp;
    soff[s] = ky * row_bytes + g * o.pw * 4 + kx * 4;
  }
  T16Rq t;
  t16_rq(o, t);
  const Rq16 shared = rq16_load(o, 0);
  for (int oy = 0; oy < o.oh; ++oy)
    for (int ox = 0; ox < o.ow; ox += kLanes) {
      const uint8_t *src = pad + static_cast<size_t>(oy) * row_bytes + static_cast<size_t>(ox) * 4;
      int8_t *dst = out + (static_cast<size_t>(oy) * o.ow + static_cast<size_t>(ox)) * kLanes;
      const int n = std::min(kLanes, o.ow - ox);
      if (o.rqf == 1) {
        block_t16<1>(o, t, shared, src, soff, n, dst);
      } else if (o.rqf == 2) {
        block_t16<2>(o, t, shared, src, soff, n, dst);
      } else {
        block_t16<0>(o, t, shared, src, soff, n, dst);
      }
    }
}

QP_VNNI void maxpool_vnni(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, iw = l.in.w, c = l.in.c, oh = l.out.h, ow = l.out.w;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * ow + x) * c;
      for (int i = 0; i < c; i += 64) {
        const __mmask64 m = c - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (c - i)) - 1;
        __m512i v = _mm512_set1_epi8(-128);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx)
            v = _mm512_max_epi8(v, _mm512_maskz_loadu_epi8(m, in + (static_cast<size_t>(y * s + ky) * iw + x * s + kx) * c + i));
        _mm512_mask_storeu_epi8(d + i, m, v);
      }
    }
}
#pragma GCC diagnostic pop
#endif

#ifdef QP_HAVE_VNNI_PATH
// ---------------------------------------------------------------------------------------------
// AVX-VNNI path: the AVX-512 VNNI set's staging (bytes u = x + 128), packed rows and start values, on 256-bit
// registers with the VEX-encoded vpdpbusd (32 exact u8 x s8 products per instruction, twice vpmaddwd's; no AVX-512
// needed, so it runs on AVX2 CPUs that have AVX-VNNI). Each packed row of J*16 channels is read as 2J halves of
// 8 channels; a register block holds P pixels x H halves (H <= 2: 16 ymm registers hold P*H accumulators, H
// weight vectors and one broadcast); requantization as the AVX2 set's (rqf8 where OptWeights::rqf is set, else rq8).
#define QP_AVX_VNNI __attribute__((target("avx2,avxvnni")))

template <int H, int P>
QP_AVX_VNNI void block_avx_vnni(const OptWeights &o, const uint8_t *pad, const int32_t *off, int t, int h0, int8_t *out,
                                const int pix0) {
  constexpr int kHalf = 8;
  const int row = o.J * kLanes * 4;  // bytes per step in tile t's packed rows
  const int c0 = t * o.J * kLanes + h0 * kHalf;
  __m256i acc[P][H];
  for (int h = 0; h < H; ++h) {
    const __m256i b = load8(o.base, c0 + h * kHalf);
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) acc[p][h] = b;
  }
  const uint8_t *src[P];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) src[p] = pad + off[p];
  const int8_t *w = o.w.data() + static_cast<size_t>(t) * o.steps * row + h0 * kHalf * 4;
  const int32_t *soff = o.soff.data();
  for (int s = 0; s < o.steps; ++s, w += row) {
    __m256i wv[H];
    for (int h = 0; h < H; ++h) wv[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + h * kHalf * 4));
    const int32_t so = soff[s];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      int32_t d;
      std::memcpy(&d, src[p] + so, 4);
      const __m256i u = _mm256_set1_epi32(d);
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[p][h] = _mm256_dpbusd_avx_epi32(acc[p][h], u, wv[h]);
    }
  }
  for (int h = 0; h < H; ++h) {
    const int c = c0 + h * kHalf;
    if (c >= o.oc) break;
    const int n = std::min(kHalf, o.oc - c);
    const auto oc = static_cast<size_t>(o.oc);  // a local: the int8 stores may alias o's fields
    int8_t *dst = out + static_cast<size_t>(pix0) * oc + static_cast<size_t>(c);
    if (o.rqf != 0) {
      const Rqf8 q = rqf8_load(o, c);
      if (o.rqf == 1) {
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p, dst += oc) store8_s8(dst, rqf8_apply<false>(q, acc[p][h]), n);
      } else {
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p, dst += oc) store8_s8(dst, rqf8_apply<true>(q, acc[p][h]), n);
      }
      continue;
    }
    const Rq8 q = rq8_load(o, c);
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p, dst += oc) store8_s8(dst, rq8_apply(q, acc[p][h]), n);
  }
}

// Every tile's 2J halves in pairs, for blocks of P pixels, then of 4, then one at a time.
template <int P>
QP_AVX_VNNI void gemm_avx_vnni_p(const OptWeights &o, const uint8_t *pad, int8_t *out, int i0, int i1) {
  int32_t off[P];
  const int halves = 2 * o.J;
  for (int i = i0; i + P <= i1; i += P) {
    pixel_offsets(o, i, P, off);
    for (int t = 0; t < o.tiles; ++t)
      for (int h = 0; h < halves && t * o.J * kLanes + h * 8 < o.oc; h += 2) block_avx_vnni<2, P>(o, pad, off, t, h, out, i);
  }
}

QP_AVX_VNNI void gemm_avx_vnni(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  const int n_pix = o.oh * o.ow;
  constexpr int kP = 6;
  const int main_end = n_pix / kP * kP, four_end = main_end + (n_pix - main_end) / 4 * 4;
  gemm_avx_vnni_p<kP>(o, pad, out, 0, main_end);
  gemm_avx_vnni_p<4>(o, pad, out, main_end, four_end);
  gemm_avx_vnni_p<1>(o, pad, out, four_end, n_pix);
}
#endif


// ---------------------------------------------------------------------------------------------
// ARM64 NEON paths. Requantization: sqrdmulh is TFLite's saturating rounding doubling high multiply
// exactly ((2ab + 2^31) >> 32 = floor((ab + 2^30) / 2^31), the nudge-and-truncate of qp_requant_srdhm_s32 for
// either sign, INT32_MIN * INT32_MIN saturated to INT32_MAX); srshl by -right rounds half up, so a negative
// value is first lowered by one (saturating: INT32_MIN stays, where both agree), which makes it round half
// away from zero as qp_requant_rdbpot_s32 does: for h = q * 2^r + m, (h - 1 + 2^(r-1)) >> r = q + (m > 2^(r-1)).
// The left shift (sshl by left >= 0) wraps, as the reference's uint32 shift.
//
// Neon: the input staged as 16-bit words u = x + 128 (as AVX2), the weights as int16 wn16 [group of 16
// channels][step][byte][16 channels]; smlal by lane forms u * w exactly in int32 (|u * w| <= 255 * 128). A
// register block holds P pixels x 16 channels; each weight vector feeds P instructions.
// NeonDot: the input staged as int8 x = u - 128 (sdot multiplies signed bytes with signed bytes), the packed
// VNNI rows w [tile][step][16 channels][4 bytes] unchanged: sdot adds the 4 products of one step per lane, exactly
// (|.| <= 4 * 128 * 128), and the accumulator starts at base_s8 = bias - zp * sum(w).
#ifdef QP_HAVE_NEON_PATH
#define QP_NEON_DOT __attribute__((target("arch=armv8.2-a+dotprod")))

bool cpu_has_dotprod() {
#if defined(__linux__)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
  return false;
#endif
}

// qp_requant_apply_dr_s32 on 4 lanes (channels c .. c + 3), then + zero point, clamp.
inline int32x4_t requant4_neon(int32x4_t acc, const OptWeights &o, int c) {
  const int32x4_t x = vshlq_s32(acc, vld1q_s32(o.left.data() + c));
  int32x4_t h = vqrdmulhq_s32(x, vld1q_s32(o.mult.data() + c));
  const int32x4_t neg_right = vnegq_s32(vld1q_s32(o.right.data() + c));
  h = vqaddq_s32(h, vshrq_n_s32(vandq_s32(h, neg_right), 31));  // -1 where h < 0 and right > 0
  const int32x4_t r = vaddq_s32(vrshlq_s32(h, neg_right), vdupq_n_s32(o.out_zp));
  return vminq_s32(vmaxq_s32(r, vdupq_n_s32(o.act_min)), vdupq_n_s32(o.act_max));
}

// 8 channels (c .. c + 7) requantized and narrowed (exact: in [-128, 127]).
inline int8x8_t requant8_neon(int32x4_t lo, int32x4_t hi, const OptWeights &o, int c) {
  return vmovn_s16(vcombine_s16(vmovn_s32(requant4_neon(lo, o, c)), vmovn_s32(requant4_neon(hi, o, c + 4))));
}

// 16 accumulators' channels c .. c + 15 to dst, the first n of them.
inline void store16_neon(const int32x4_t *acc, const OptWeights &o, int c, int8_t *dst, int n) {
  const int8x16_t v = vcombine_s8(requant8_neon(acc[0], acc[1], o, c), requant8_neon(acc[2], acc[3], o, c + 8));
  if (n >= 16) {
    vst1q_s8(dst, v);
  } else {
    int8_t tmp[16];
    vst1q_s8(tmp, v);
    std::memcpy(dst, tmp, static_cast<size_t>(n));
  }
}

// acc[0..3] (16 channels) += byte B of the step (u lane B) times its 16 weights.
template <int B>
inline void mlal16(int32x4_t *acc, int16x8_t w0, int16x8_t w1, int16x4_t u) {
  acc[0] = vmlal_lane_s16(acc[0], vget_low_s16(w0), u, B);
  acc[1] = vmlal_high_lane_s16(acc[1], w0, u, B);
  acc[2] = vmlal_lane_s16(acc[2], vget_low_s16(w1), u, B);
  acc[3] = vmlal_high_lane_s16(acc[3], w1, u, B);
}

// P output pixels (window origins off[0..P)) x the 16 channels of group g.
template <int P>
void block_neon(const OptWeights &o, const int16_t *pad, const int32_t *off, int g, int8_t *out, int pix0) {
  int32x4_t acc[P][4];
  const int c0 = g * 16;
  for (int q = 0; q < 4; ++q) {
    const int32x4_t b = vld1q_s32(o.base.data() + c0 + 4 * q);
    for (int p = 0; p < P; ++p) acc[p][q] = b;
  }
  const int16_t *src[P];
  for (int p = 0; p < P; ++p) src[p] = pad + off[p];
  const int16_t *w = o.wn16.data() + static_cast<size_t>(g) * o.steps * 64;
  for (int s = 0; s < o.steps; ++s, w += 64) {
    const int16x8_t w00 = vld1q_s16(w), w01 = vld1q_s16(w + 8), w10 = vld1q_s16(w + 16), w11 = vld1q_s16(w + 24);
    const int16x8_t w20 = vld1q_s16(w + 32), w21 = vld1q_s16(w + 40), w30 = vld1q_s16(w + 48), w31 = vld1q_s16(w + 56);
    const int32_t so = o.soff[static_cast<size_t>(s)];
    for (int p = 0; p < P; ++p) {
      const int16x4_t u = vld1_s16(src[p] + so);  // the step's 4 staged words (each in [0, 255])
      mlal16<0>(acc[p], w00, w01, u);
      mlal16<1>(acc[p], w10, w11, u);
      mlal16<2>(acc[p], w20, w21, u);
      mlal16<3>(acc[p], w30, w31, u);
    }
  }
  const int n = std::min(16, o.oc - c0);
  for (int p = 0; p < P; ++p) store16_neon(acc[p], o, c0, out + static_cast<size_t>(pix0 + p) * o.oc + c0, n);
}

void gemm_neon(const OptWeights &o, const int16_t *pad, int8_t *out) {
  constexpr int P = 4;
  const int n_pix = o.oh * o.ow, groups = (o.oc + 15) / 16;
  int32_t off[P];
  int i = 0;
  for (; i + P <= n_pix; i += P) {
    pixel_offsets(o, i, P, off);
    for (int g = 0; g < groups; ++g) block_neon<P>(o, pad, off, g, out, i);
  }
  for (; i < n_pix; ++i) {  // the last < P pixels, one at a time
    off[0] = pixel_offset(o, i);
    for (int g = 0; g < groups; ++g) block_neon<1>(o, pad, off, g, out, i);
  }
}

// P output pixels x the 16 channels j of VNNI tile t (rows of J * 64 bytes per step).
template <int P>
QP_NEON_DOT void block_dot(const OptWeights &o, const int8_t *pad, const int32_t *off, int t, int j, int8_t *out, int pix0) {
  int32x4_t acc[P][4];
  const int c0 = (t * o.J + j) * 16;
  for (int q = 0; q < 4; ++q) {
    const int32x4_t b = vld1q_s32(o.base_s8.data() + c0 + 4 * q);
    for (int p = 0; p < P; ++p) acc[p][q] = b;
  }
  const int8_t *src[P];
  for (int p = 0; p < P; ++p) src[p] = pad + off[p];
  const size_t row = static_cast<size_t>(o.J) * 64;
  const int8_t *w = o.w.data() + static_cast<size_t>(t) * o.steps * row + static_cast<size_t>(j) * 64;
  for (int s = 0; s < o.steps; ++s, w += row) {
    const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32), w3 = vld1q_s8(w + 48);
    const int32_t so = o.soff[static_cast<size_t>(s)];
    for (int p = 0; p < P; ++p) {
      int32_t d;  // the step's 4 input bytes, broadcast
      std::memcpy(&d, src[p] + so, 4);
      const int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(d));
      acc[p][0] = vdotq_s32(acc[p][0], x, w0);
      acc[p][1] = vdotq_s32(acc[p][1], x, w1);
      acc[p][2] = vdotq_s32(acc[p][2], x, w2);
      acc[p][3] = vdotq_s32(acc[p][3], x, w3);
    }
  }
  const int n = std::min(16, o.oc - c0);
  for (int p = 0; p < P; ++p) store16_neon(acc[p], o, c0, out + static_cast<size_t>(pix0 + p) * o.oc + c0, n);
}

QP_NEON_DOT void gemm_dot(const OptWeights &o, const int8_t *pad, int8_t *out) {
  constexpr int P = 4;
  const int n_pix = o.oh * o.ow;
  int32_t off[P];
  int i = 0;
  const auto tiles = [&](auto block, int pix) {
    for (int t = 0; t < o.tiles; ++t)
      for (int j = 0; j < o.J && (t * o.J + j) * 16 < o.oc; ++j) block(t, j, pix);
  };
  for (; i + P <= n_pix; i += P) {
    pixel_offsets(o, i, P, off);
    tiles([&](int t, int j, int pix) { block_dot<P>(o, pad, off, t, j, out, pix); }, i);
  }
  for (; i < n_pix; ++i) {  // the last < P pixels, one at a time
    off[0] = pixel_offset(o, i);
    tiles([&](int t, int j, int pix) { block_dot<1>(o, pad, off, t, j, out, pix); }, i);
  }
}

// The staged bytes u = x + 128 back to int8 x (flipping the top bit), in place.
void flip_to_s8(uint8_t *pad, size_t n) {
  size_t i = 0;
  const uint8x16_t top = vdupq_n_u8(0x80);
  for (; i + 16 <= n; i += 16) vst1q_u8(pad + i, veorq_u8(vld1q_u8(pad + i), top));
  for (; i < n; ++i) pad[i] ^= 0x80u;
}

void maxpool_neon(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, iw = l.in.w, c = l.in.c, oh = l.out.h, ow = l.out.w;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * ow + x) * c;
      const auto at = [&](int ky, int kx) { return in + (static_cast<size_t>(y * s + ky) * iw + x * s + kx) * c; };
      int i = 0;
      for (; i + 16 <= c; i += 16) {
        int8x16_t v = vdupq_n_s8(-128);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) v = vmaxq_s8(v, vld1q_s8(at(ky, kx) + i));
        vst1q_s8(d + i, v);
      }
      for (; i < c; ++i) {  // the last < 16 channels
        int8_t m = -128;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) m = std::max(m, at(ky, kx)[i]);
        d[i] = m;
      }
    }
}
#endif

// ---------------------------------------------------------------------------------------------
// Depthwise conv (channel multiplier 1). The input is staged as for a conv (16-bit words u = x + 128,
// padded positions holding the zero point, channels rounded up to 8), so every window is read without
// bounds checks and sum w * (x + input_offset) = sum w * u - (zp + 128) * sum w, the second term folded
// into base. Per output pixel the KH x KW taps accumulate into one int32 lane per channel (the channel
// loop is what the compiler vectorises: |u * w| < 2^15, the total is the reference accumulator, partial
// sums wrap modulo 2^32 at worst, so they are kept unsigned), then each channel is requantized.
__attribute__((always_inline)) inline void dw_accumulate(const OptWeights &o, const uint16_t *pad, int y, int x, uint32_t *acc) {
  const int icp = o.icp, k = o.k;
  for (int c = 0; c < icp; ++c) acc[c] = static_cast<uint32_t>(o.base[static_cast<size_t>(c)]);
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx) {
      const uint16_t *u = pad + (static_cast<size_t>(y * o.stride + ky) * o.pw + static_cast<size_t>(x * o.stride + kx)) * icp;
      const int16_t *w = o.w16.data() + static_cast<size_t>(ky * k + kx) * icp;
      for (int c = 0; c < icp; ++c) acc[c] += static_cast<uint32_t>(static_cast<int32_t>(u[c]) * w[c]);
    }
}

void dw_portable(const OptWeights &o, const uint16_t *pad, int8_t *out) {
  std::vector<uint32_t> acc(static_cast<size_t>(o.icp));
  for (int y = 0; y < o.oh; ++y)
    for (int x = 0; x < o.ow; ++x) {
      dw_accumulate(o, pad, y, x, acc.data());
      int8_t *dst = out + (static_cast<size_t>(y) * o.ow + x) * o.oc;
      for (size_t c = 0; c < static_cast<size_t>(o.oc); ++c)
        dst[c] = narrow(requant_dr(static_cast<int32_t>(acc[c]), o.mult[c], o.left[c], o.right[c], o.rmask[c]), o);
    }
}

#ifdef QP_HAVE_VNNI_PATH
QP_AVX2 void dw_avx2(const OptWeights &o, const uint16_t *pad, int8_t *out) {
  std::vector<uint32_t> acc(static_cast<size_t>(o.icp));
  for (int y = 0; y < o.oh; ++y)
    for (int x = 0; x < o.ow; ++x) {
      dw_accumulate(o, pad, y, x, acc.data());
      int8_t *dst = out + (static_cast<size_t>(y) * o.ow + x) * o.oc;
      for (int c = 0; c < o.oc; c += 8) {
        const __m128i v = requant8_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc.data() + c)), o, c);
        store8_s8(dst + c, v, o.oc - c);
      }
    }
}
#endif

#ifdef QP_HAVE_NEON_PATH
// Both NEON kernel sets: 8 channels per step, u * w exact by smlal into two int32x4 lanes groups.
void dw_neon(const OptWeights &o, const uint16_t *pad, int8_t *out) {
  const int icp = o.icp, k = o.k;
  for (int y = 0; y < o.oh; ++y)
    for (int x = 0; x < o.ow; ++x) {
      int8_t *dst = out + (static_cast<size_t>(y) * o.ow + x) * o.oc;
      for (int c = 0; c < o.oc; c += 8) {
        int32x4_t lo = vld1q_s32(o.base.data() + c), hi = vld1q_s32(o.base.data() + c + 4);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const size_t at = (static_cast<size_t>(y * o.stride + ky) * o.pw + static_cast<size_t>(x * o.stride + kx)) * icp;
            const int16x8_t u = vreinterpretq_s16_u16(vld1q_u16(pad + at + c));
            const int16x8_t w = vld1q_s16(o.w16.data() + static_cast<size_t>(ky * k + kx) * icp + c);
            lo = vmlal_s16(lo, vget_low_s16(u), vget_low_s16(w));
            hi = vmlal_high_s16(hi, u, w);
          }
        const int8x8_t v = requant8_neon(lo, hi, o, c);
        if (o.oc - c >= 8) {
          vst1_s8(dst + c, v);
        } else {
          int8_t tmp[8];
          vst1_s8(tmp, v);
          std::memcpy(dst + c, tmp, static_cast<size_t>(o.oc - c));
        }
      }
    }
}
#endif

OptWeights pack_dwconv(const QLayer &l) {
  OptWeights o;
  o.kind = OptWeights::Kind::Depthwise;
  const int ch = l.out.c, k = l.kernel;  // output channels: c * M + m reads input channel c
  o.k = k;
  o.stride = l.stride;
  o.oh = l.out.h;
  o.ow = l.out.w;
  o.oc = ch;
  o.icp = round_up(ch, 8);
  o.ph = (o.oh - 1) * o.stride + k;
  o.pw = (o.ow - 1) * o.stride + k;
  o.out_zp = l.q.output.zero_point;
  o.act_min = l.q.act_min;
  o.act_max = l.q.act_max;
  const auto icp = static_cast<size_t>(o.icp);
  o.w16.assign(static_cast<size_t>(k) * k * icp, 0);
  o.base.assign(icp, 0);
  o.mult.assign(icp, 0);
  o.left.assign(icp, 0);
  o.right.assign(icp, 0);
  o.rmask.assign(icp, 0);
  const int32_t input_shift = l.q.input.zero_point + 128;
  for (size_t c = 0; c < static_cast<size_t>(ch); ++c) {
    int64_t wsum = 0;
    for (size_t t = 0; t < static_cast<size_t>(k) * k; ++t) {
      const int8_t w = l.q.weight[t * static_cast<size_t>(ch) + c];
      o.w16[t * icp + c] = w;
      wsum += w;
    }
    o.base[c] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(l.q.bias[c]) - input_shift * wsum));
    o.mult[c] = l.q.multiplier[c];
    o.left[c] = std::max(l.q.shift[c], 0);
    o.right[c] = std::max(-l.q.shift[c], 0);
    o.rmask[c] = static_cast<int32_t>((int64_t{1} << o.right[c]) - 1);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Average pooling (TFLite's: the divisor counts the window's positions inside the input) and global
// average pooling: int32 sums with the channel loop innermost (vectorised by the compiler), then the
// reference's rounded division, half away from zero.
inline int8_t rounded_mean_s8(int32_t sum, int32_t count) {
  const int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  return static_cast<int8_t>(std::clamp(v, -128, 127));
}

void avgpool_portable(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, ih = l.in.h, iw = l.in.w, c = l.in.c;
  std::vector<int32_t> acc(static_cast<size_t>(c));
  for (int y = 0; y < l.out.h; ++y)
    for (int x = 0; x < l.out.w; ++x) {
      const int y0 = std::max(y * s - l.pad_top, 0), y1 = std::min(y * s - l.pad_top + k, ih);
      const int x0 = std::max(x * s - l.pad_left, 0), x1 = std::min(x * s - l.pad_left + k, iw);
      std::fill(acc.begin(), acc.end(), 0);
      for (int iy = y0; iy < y1; ++iy)
        for (int ix = x0; ix < x1; ++ix) {
          const int8_t *src = in + (static_cast<size_t>(iy) * iw + ix) * c;
          for (int i = 0; i < c; ++i) acc[static_cast<size_t>(i)] += src[i];
        }
      const int32_t count = (y1 - y0) * (x1 - x0);
      int8_t *d = out + (static_cast<size_t>(y) * l.out.w + x) * c;
      for (int i = 0; i < c; ++i) d[i] = rounded_mean_s8(acc[static_cast<size_t>(i)], count);
    }
}

void global_avgpool_portable(const QLayer &l, const int8_t *in, int8_t *out) {
  const int c = l.in.c, n = l.in.h * l.in.w;
  std::vector<int32_t> acc(static_cast<size_t>(c), 0);
  for (int p = 0; p < n; ++p) {
    const int8_t *src = in + static_cast<size_t>(p) * c;
    for (int i = 0; i < c; ++i) acc[static_cast<size_t>(i)] += src[i];
  }
  for (int i = 0; i < c; ++i) out[i] = rounded_mean_s8(acc[static_cast<size_t>(i)], n);
}

// The kernel set a request resolves to on this CPU (Auto: the fastest available).
OptIsa resolve(OptIsa isa) {
  if (isa != OptIsa::Auto) {
    if (!opt_isa_available(isa))
      fail(std::string("the optimized kernel set '") + opt_isa_name(isa) + "' is not available on this CPU or build",
           "use OptIsa::Auto (the fastest available)");
    return isa;
  }
  static const OptIsa best = opt_isa_available(OptIsa::Avx512Vnni) ? OptIsa::Avx512Vnni
                             : opt_isa_available(OptIsa::AvxVnni)    ? OptIsa::AvxVnni
                             : opt_isa_available(OptIsa::Avx2)     ? OptIsa::Avx2
                             : opt_isa_available(OptIsa::NeonDot)  ? OptIsa::NeonDot
                             : opt_isa_available(OptIsa::Neon)     ? OptIsa::Neon
                                                                   : OptIsa::Portable;
  return best;
}

// OptWeights::rqf. For left = 0, a multiplier M >= 0 and right = r >= 1, the reference's h = floor((x M + 2^30) /
// 2^31) (SaturatingRoundingDoublingHighMul, which saturates only for M = INT32_MIN) rounded by 2^r half away from zero
// is one floor, by floor((floor(y) + c) / n) = floor((y + c) / n) for integers c and n > 0:
//   h >= 0: floor((x M + 2^30 + 2^(30 + r)) / 2^(31 + r))          (c = 2^(r - 1): rem >= 2^(r - 1) rounds up)
//   h <  0: floor((x M + 2^30 + 2^(30 + r) - 2^31) / 2^(31 + r))   (c = 2^(r - 1) - 1: rem > 2^(r - 1) rounds up)
// and h < 0 exactly where x M < -2^30. Where act_min >= out_zp, a negative h gives at most 0 by either form and the
// clamp makes it act_min, so the first form serves every x (rqf 1); otherwise the kernel picks the form by sign (rqf 2).
// The zero point joins the constant as zp * 2^(31 + r) (a multiple of the divisor). The AVX2 form adds B * 2^(31 + r)
// more so that no sum is negative, and subtracts B after its logical shift. Set only where every accumulator the layer
// can produce (the folded bias plus 0..255 times each weight) fits int32, every sum t fits within +-2^62 and every
// result (with B) within int32.
void pack_rqf(OptWeights &o, const std::vector<int64_t> &acc_lo, const std::vector<int64_t> &acc_hi) {
  using i128 = __int128;
  const size_t n16 = (o.base.size() + 15) / 16 * 16, n8 = (o.base.size() + 7) / 8 * 8;
  std::vector<int64_t> k16(n16, 0), s16(n16, 32), k8(n8, 0), s8(n8, 32);
  std::vector<int32_t> b8(n8, 0);
  const bool one_form = o.act_min >= o.out_zp;
  const i128 lim = i128{1} << 62;
  for (size_t c = 0; c < static_cast<size_t>(o.oc); ++c) {
    const int64_t m = o.mult[c];
    const int r = o.right[c];
    if (o.left[c] != 0 || m < 0 || r < 1 || r > 30) return;
    if (acc_lo[c] < INT32_MIN || acc_hi[c] > INT32_MAX) return;
    const int sh = 31 + r;
    const i128 unit = i128{1} << sh;
    const i128 k = (i128{1} << 30) + (i128{1} << (30 + r)) + i128{o.out_zp} * unit;
    const i128 tmin = i128{acc_lo[c]} * m + k, tmax = i128{acc_hi[c]} * m + k;  // M >= 0: t grows with x
    const i128 lo = one_form ? tmin : tmin - (i128{1} << 31);  // the least sum, after the sign step where it applies
    const i128 b = lo < 0 ? (-lo + unit - 1) / unit : 0;
    if (lo <= -lim || tmax + b * unit >= lim || k + b * unit >= lim || k <= -lim) return;
    if ((lo >> sh) < INT32_MIN || (tmax >> sh) + b > INT32_MAX) return;  // >> on a negative i128: floor (GCC)
    const size_t g16 = c / 16 * 16 + (c % 2) * 8 + c % 16 / 2, g8 = c / 8 * 8 + (c % 2) * 4 + c % 8 / 2;
    k16[g16] = static_cast<int64_t>(k);
    s16[g16] = c % 2 != 0 ? sh - 32 : sh;
    k8[g8] = static_cast<int64_t>(k + b * unit);
    s8[g8] = s16[g16];
    b8[c] = static_cast<int32_t>(b);
  }
  o.rqf = one_form ? 1 : 2;
  o.rqk16 = std::move(k16);
  o.rqs16 = std::move(s16);
  o.rqk8 = std::move(k8);
  o.rqs8 = std::move(s8);
  o.rqb8 = std::move(b8);
}

}  // namespace

const char *opt_isa_name(OptIsa isa) {
  switch (isa) {
    case OptIsa::Auto: return "auto";
    case OptIsa::Portable: return "portable";
    case OptIsa::Avx2: return "avx2";
    case OptIsa::Avx512Vnni: return "avx512-vnni";
    case OptIsa::AvxVnni: return "avx-vnni";
    case OptIsa::Neon: return "neon";
    case OptIsa::NeonDot: return "neon-dot";
  }
  return "?";
}

bool opt_isa_available(OptIsa isa) {
  switch (isa) {
    case OptIsa::Auto:
    case OptIsa::Portable: return true;
#ifdef QP_HAVE_VNNI_PATH
    case OptIsa::Avx2: {
      static const bool avx2 = cpu_has_avx2();
      return avx2;
    }
    case OptIsa::Avx512Vnni: {
      static const bool vnni = cpu_has_vnni();
      return vnni;
    }
    case OptIsa::AvxVnni: {
      static const bool avx_vnni = cpu_has_avx_vnni();
      return avx_vnni;
    }
#else
    case OptIsa::Avx2:
    case OptIsa::AvxVnni:
    case OptIsa::Avx512Vnni: return false;
#endif
#ifdef QP_HAVE_NEON_PATH
    case OptIsa::Neon: return true;  // Advanced SIMD is part of every ARMv8-A Linux target
    case OptIsa::NeonDot: {
      static const bool dot = cpu_has_dotprod();
      return dot;
    }
#else
    case OptIsa::Neon:
    case OptIsa::NeonDot: return false;
#endif
  }
  return false;
}

OptWeights pack_opt_weights(const QLayer &l) {
  OptWeights o;
  if (l.op == model::Op::DepthwiseConv2D) return l.in.c > 0 && l.out.c % l.in.c == 0 ? pack_dwconv(l) : o;  // multiplier >= 1
  if (l.op == model::Op::Add) {  // each input's rescaling tabulated (qp_add_mcu_s8.c)
    o.kind = OptWeights::Kind::Add;
    o.base.assign(QP_ADD_MCU_TABLE_COUNT, 0);
    if (qp_add_table_mcu_s8(&l.q.add, o.base.data()) != QP_STATUS_OK) o = OptWeights{};  // the reference reports it
    return o;
  }
  if (l.op != model::Op::Conv2D && l.op != model::Op::Dense) return o;
  o.kind = OptWeights::Kind::Gemm;
  o.dense = l.op == model::Op::Dense;
  const int ic = l.in.c, k = o.dense ? 1 : l.kernel;
  o.stride = o.dense ? 1 : l.stride;
  o.oh = o.dense ? 1 : l.out.h;
  o.ow = o.dense ? 1 : l.out.w;
  o.oc = l.out.c;
  o.icp = round_up(ic, 4);
  o.ph = (o.oh - 1) * o.stride + k;
  o.pw = (o.ow - 1) * o.stride + k;
  o.J = std::min(4, (o.oc + kLanes - 1) / kLanes);
  o.ocp = round_up(o.oc, o.J * kLanes);
  o.tiles = o.ocp / (o.J * kLanes);
  o.J2 = std::min(kAvx2MaxJ, (o.oc + 7) / 8);
  const int ocp2 = round_up(o.oc, o.J2 * 8);
  o.tiles2 = ocp2 / (o.J2 * 8);
  const int groups = o.icp / 4;
  o.steps = k * k * groups;
  o.out_zp = l.q.output.zero_point;
  o.act_min = l.q.act_min;
  o.act_max = l.q.act_max;
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx)
      for (int g = 0; g < groups; ++g) o.soff.push_back((ky * o.pw + kx) * o.icp + 4 * g);
  const size_t per = static_cast<size_t>(k) * k * ic, tile = static_cast<size_t>(o.J) * kLanes;
  o.w.assign(static_cast<size_t>(o.ocp) * o.steps * 4, 0);
  o.wrow.assign(static_cast<size_t>(o.oc) * o.steps * 4, 0);
  o.w16.assign(static_cast<size_t>(ocp2) * o.steps * 4, 0);
  const auto ocp = static_cast<size_t>(std::max(o.ocp, ocp2));  // per-channel arrays cover both tilings
  o.base.assign(ocp, 0);
  o.mult.assign(ocp, 0);
  o.left.assign(ocp, 0);
  o.right.assign(ocp, 0);
  o.rmask.assign(ocp, 0);
  const int32_t input_shift = l.q.input.zero_point + 128;  // u = x + 128: sum w*(x - zp) = sum w*u - (zp + 128) * sum w
  std::vector<int64_t> acc_lo(ocp, 0), acc_hi(ocp, 0);  // the accumulator's range over every input (pack_rqf)
  for (size_t c = 0; c < static_cast<size_t>(o.oc); ++c) {
    const size_t t = c / tile, lane = c % tile;
    int64_t wsum = 0, wneg = 0, wpos = 0;
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx)
        for (int i = 0; i < ic; ++i) {
          const int8_t w = l.q.weight[c * per + (static_cast<size_t>(ky) * k + kx) * ic + i];
          wsum += w;
          (w < 0 ? wneg : wpos) += w;
          const size_t step = (static_cast<size_t>(ky) * k + kx) * groups + i / 4;
          o.w[((t * o.steps + step) * tile + lane) * 4 + i % 4] = w;
          o.wrow[c * static_cast<size_t>(o.steps) * 4 + step * 4 + i % 4] = w;
          const size_t tile2 = static_cast<size_t>(o.J2) * 8;  // AVX2: [tile][step][pair][J2*8 channels][2]
          o.w16[(((c / tile2 * o.steps + step) * 2 + i % 4 / 2) * tile2 + c % tile2) * 2 + i % 2] = w;
        }
    const int64_t base = static_cast<int64_t>(l.q.bias[c]) - input_shift * wsum;
    o.base[c] = static_cast<int32_t>(static_cast<uint32_t>(base));
    acc_lo[c] = base + 255 * wneg;
    acc_hi[c] = base + 255 * wpos;
    o.mult[c] = l.q.multiplier[c];
    o.left[c] = std::max(l.q.shift[c], 0);
    o.right[c] = std::max(-l.q.shift[c], 0);
    o.rmask[c] = static_cast<int32_t>((int64_t{1} << o.right[c]) - 1);
  }
  pack_rqf(o, acc_lo, acc_hi);
#ifdef QP_HAVE_NEON_PATH
  const size_t n16 = static_cast<size_t>(o.oc + 15) / 16, steps = static_cast<size_t>(o.steps);
  o.wn16.assign(n16 * steps * 64, 0);  // [group][step][byte][16 channels]
  o.base_s8.assign(ocp, 0);
  for (size_t c = 0; c < static_cast<size_t>(o.oc); ++c) {
    int64_t wsum = 0;
    for (size_t s = 0; s < steps; ++s)
      for (size_t b = 0; b < 4; ++b) {
        const int8_t w = o.wrow[(c * steps + s) * 4 + b];
        wsum += w;
        o.wn16[((c / 16 * steps + s) * 4 + b) * 16 + c % 16] = w;
      }
    o.base_s8[c] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(l.q.bias[c]) - l.q.input.zero_point * wsum));
  }
#endif
#ifdef QP_HAVE_VNNI_PATH
  if (wino_wins(l)) pack_wino(l, o);  // 3x3 stride 1 where measured faster: the AVX2 kernel set runs Winograd
#endif
  return o;
}

void opt_conv_s8(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *in, int8_t *out, uint8_t *scratch) {
  switch (resolve(isa)) {
#ifdef QP_HAVE_VNNI_PATH
    case OptIsa::Avx512Vnni:
      if (t16_takes(l, o)) {
        stage_input_vnni(l, o, in, scratch, true);
        return gemm_t16(o, scratch, out);
      }
      stage_input_vnni(l, o, in, scratch);
      return gemm_vnni(o, scratch, out);
    case OptIsa::AvxVnni: stage_input(l, o, in, scratch); return gemm_avx_vnni(o, scratch, out);
    case OptIsa::Avx2: {
      if (o.wino) return wino_conv_avx2(l, o, in, out, scratch);  // engine_wino.cpp
      auto *pad16 = reinterpret_cast<uint16_t *>(scratch);  // the arena (operator new) and its scratch offset are 16-byte aligned
      stage_input(l, o, in, pad16);
      return gemm_avx2(o, pad16, out);
    }
#endif
#ifdef QP_HAVE_NEON_PATH
    case OptIsa::Neon: {
      auto *pad16 = reinterpret_cast<uint16_t *>(scratch);  // 64-byte aligned (the engine's plan)
      stage_input(l, o, in, pad16);
      return gemm_neon(o, reinterpret_cast<const int16_t *>(pad16), out);
    }
    case OptIsa::NeonDot:
      stage_input(l, o, in, scratch);
      flip_to_s8(scratch, static_cast<size_t>(o.ph) * o.pw * o.icp);
      return gemm_dot(o, reinterpret_cast<const int8_t *>(scratch), out);
#endif
    default: stage_input(l, o, in, scratch); return gemm_portable(o, scratch, out);
  }
}

void opt_maxpool_s8(const QLayer &l, [[maybe_unused]] OptIsa isa, const int8_t *in, int8_t *out) {
#ifdef QP_HAVE_VNNI_PATH
  const OptIsa r = resolve(isa);
  if (r == OptIsa::Avx512Vnni) return maxpool_vnni(l, in, out);
  if (r == OptIsa::Avx2 || r == OptIsa::AvxVnni) return maxpool_avx2(l, in, out);
#endif
#ifdef QP_HAVE_NEON_PATH
  const OptIsa n = resolve(isa);
  if (n == OptIsa::Neon || n == OptIsa::NeonDot) return maxpool_neon(l, in, out);
#endif
  maxpool_portable(l, in, out);
}

// Max pooling fused before requantization (AVX2 and AVX-512 VNNI kernel sets): the requantization is monotone
// non-decreasing in the accumulator when the multiplier is >= 0 and the left shift cannot wrap (every step rounds
// monotonically, then + zero point and clamp), so the window's maximum of requantized values is the requantization of
// its maximum accumulator; and the pool's -128 start is below every int8. Conv accumulators (AVX2: GEMM or Winograd,
// [pixel][tiles2 * J2 * 8]; VNNI: GEMM, [pixel][tiles * J * 16]) -> scratch, after the staged input (AVX2: 16-bit
// words or Winograd's staging, o.scratch_bytes(); VNNI: bytes), 64-byte aligned.
namespace {
[[maybe_unused]] bool pool_unpadded(const QLayer &p) {  // used on x86 only
  return p.op == model::Op::MaxPool && p.pad_top == 0 && p.pad_left == 0 && p.kernel >= 1 && p.stride >= 1 &&
         p.in.h >= p.kernel && p.in.w >= p.kernel && p.out.h == (p.in.h - p.kernel) / p.stride + 1 &&
         p.out.w == (p.in.w - p.kernel) / p.stride + 1;
}

bool fuse_vnni(OptIsa isa) {
  return resolve(isa) == OptIsa::Avx512Vnni;
}

size_t fuse_acc_offset(const OptWeights &o, OptIsa isa) {
  const size_t staged = fuse_vnni(isa) ? static_cast<size_t>(o.ph) * o.pw * o.icp : o.scratch_bytes();
  return (staged + 63) / 64 * 64;
}

size_t fuse_acc_channels(const OptWeights &o, OptIsa isa) {  // int32 per output pixel in the accumulator area
  return static_cast<size_t>(fuse_vnni(isa) ? o.tiles * o.J * kLanes : o.tiles2 * o.J2 * 8);
}
}  // namespace

bool opt_conv_transposed16([[maybe_unused]] const QLayer &l, [[maybe_unused]] const OptWeights &o,
                           [[maybe_unused]] OptIsa isa) {
#ifdef QP_HAVE_VNNI_PATH
  return resolve(isa) == OptIsa::Avx512Vnni && t16_takes(l, o);
#else
  return false;
#endif
}

bool opt_fuses_maxpool(const QModel &m, size_t k, const OptWeights &o, OptIsa isa) {
#ifdef QP_HAVE_VNNI_PATH
  const OptIsa r = resolve(isa);
  if ((r != OptIsa::Avx2 && r != OptIsa::Avx512Vnni) || k + 1 >= m.layers.size()) return false;
  const QLayer &l = m.layers[k], &p = m.layers[k + 1];
  if (l.op != model::Op::Conv2D || o.kind != OptWeights::Kind::Gemm || o.dense || !pool_unpadded(p)) return false;
  if (p.in.h != l.out.h || p.in.w != l.out.w || p.in.c != l.out.c || o.oh != l.out.h || o.ow != l.out.w) return false;
  int readers = 0;  // the pool must be the conv output's only reader
  for (const QLayer &q : m.layers)
    for (const int i : q.inputs) readers += i == static_cast<int>(k) ? 1 : 0;
  if (readers != 1 || p.inputs.size() != 1 || p.inputs[0] != static_cast<int>(k)) return false;
  for (int c = 0; c < o.oc; ++c) {
    const auto cc = static_cast<size_t>(c);
    if (o.mult[cc] < 0 || o.left[cc] > 30) return false;
    if (o.left[cc] > 0 && worst_case_accumulator(l, c) > (int64_t{INT32_MAX} >> o.left[cc])) return false;  // no wrap
  }
  return true;
#else
  (void)m, (void)k, (void)o, (void)isa;
  return false;
#endif
}

size_t opt_fuse_scratch_bytes(const OptWeights &o, OptIsa isa) {
  return fuse_acc_offset(o, isa) + static_cast<size_t>(o.oh) * o.ow * fuse_acc_channels(o, isa) * 4;
}

#ifdef QP_HAVE_VNNI_PATH
namespace {
// Form F: OptWeights::rqf (1, 2: the single rounding; 0: the double rounding), chosen once per layer. Channel groups
// outermost, so that each group's requantization parameters are loaded once.
template <int F>
QP_AVX2 void pool_requant_avx2_f(const OptWeights &o, const QLayer &p, const int32_t *acc, int8_t *out) {
  const int k = p.kernel, s = p.stride, ow = o.ow, oc = o.oc;
  const size_t ocs = static_cast<size_t>(o.tiles2 * o.J2 * 8);
  for (int c = 0; c < oc; c += 8) {
    const int n = std::min(8, oc - c);
    const Rqf8 qf = F != 0 ? rqf8_load(o, c) : Rqf8{};
    const Rq8 qd = F == 0 ? rq8_load(o, c) : Rq8{};
    for (int y = 0; y < p.out.h; ++y)
      for (int x = 0; x < p.out.w; ++x) {
        __m256i v = _mm256_set1_epi32(INT32_MIN);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int32_t *a = acc + (static_cast<size_t>(y * s + ky) * ow + x * s + kx) * ocs + c;
            v = _mm256_max_epi32(v, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a)));
          }
        const __m128i q = F == 1 ? rqf8_apply<false>(qf, v) : F == 2 ? rqf8_apply<true>(qf, v) : rq8_apply(qd, v);
        store8_s8(out + (static_cast<size_t>(y) * p.out.w + x) * oc + c, q, n);
      }
  }
}

QP_AVX2 void pool_requant_avx2(const OptWeights &o, const QLayer &p, const int32_t *acc, int8_t *out) {
  switch (o.rqf) {
    case 1: return pool_requant_avx2_f<1>(o, p, acc, out);
    case 2: return pool_requant_avx2_f<2>(o, p, acc, out);
    default: return pool_requant_avx2_f<0>(o, p, acc, out);
  }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// The same over the VNNI accumulators: 16 channels per vector (the area holds tiles * J * 16 >= oc of them, so every
// load is in bounds), the last partial group stored under a mask.
QP_VNNI void pool_requant_vnni(const OptWeights &o, const QLayer &p, const int32_t *acc, int8_t *out) {
  const int k = p.kernel, s = p.stride, ow = o.ow, oc = o.oc;
  const size_t ocs = static_cast<size_t>(o.tiles * o.J * kLanes);
  for (int y = 0; y < p.out.h; ++y)
    for (int x = 0; x < p.out.w; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * p.out.w + x) * oc;
      const int32_t *a0 = acc + (static_cast<size_t>(y * s) * ow + static_cast<size_t>(x * s)) * ocs;
      for (int c = 0; c < oc; c += kLanes) {
        __m512i v = _mm512_set1_epi32(INT32_MIN);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx)
            v = _mm512_max_epi32(v, _mm512_loadu_si512(a0 + (static_cast<size_t>(ky) * ow + kx) * ocs + c));
        const __mmask16 m = oc - c >= kLanes ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (oc - c)) - 1);
        const __m128i q = o.rqf == 1   ? rqf16_apply<false>(rqf16_load(o, c), v)
                          : o.rqf == 2 ? rqf16_apply<true>(rqf16_load(o, c), v)
                                       : rq16_apply(rq16_load(o, c), v);
        _mm_mask_storeu_epi8(d + c, m, q);
      }
    }
}
#pragma GCC diagnostic pop
}  // namespace
#endif

void opt_conv_maxpool_s8(const QLayer &l, const OptWeights &o, OptIsa isa, const QLayer &pool, const int8_t *in,
                         int8_t *out, uint8_t *scratch) {
#ifdef QP_HAVE_VNNI_PATH
  auto *acc = reinterpret_cast<int32_t *>(scratch + fuse_acc_offset(o, isa));
  if (fuse_vnni(isa)) {
    stage_input_vnni(l, o, in, scratch);
    gemm_vnni(o, scratch, nullptr, acc);
    return pool_requant_vnni(o, pool, acc, out);
  }
  if (o.wino) {
    wino_conv_avx2(l, o, in, nullptr, scratch, acc);
  } else {
    auto *pad16 = reinterpret_cast<uint16_t *>(scratch);
    stage_input(l, o, in, pad16);
    gemm_avx2(o, pad16, nullptr, acc);
  }
  pool_requant_avx2(o, pool, acc, out);
#else
  (void)l, (void)o, (void)isa, (void)pool, (void)in, (void)out, (void)scratch;
  fail("internal: the fused conv + max pooling kernel is x86 only (AVX2, AVX-512 VNNI)", "run the layers unfused");
#endif
}

bool opt_run_layer(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *in, const int8_t *in2, int8_t *out,
                   uint8_t *scratch) {
  switch (o.kind) {
    case OptWeights::Kind::Gemm: opt_conv_s8(l, o, isa, in, out, scratch); return true;
    case OptWeights::Kind::Depthwise: {
      auto *pad16 = reinterpret_cast<uint16_t *>(scratch);  // 64-byte aligned (the engine's plan)
      if (l.out.c != l.in.c) {
        opt_stage_dw_expand(l, o, in, pad16);  // multiplier > 1 (engine_opt_ops.cpp)
      } else {
        stage_input(l, o, in, pad16);
      }
#ifdef QP_HAVE_VNNI_PATH
      if (resolve(isa) != OptIsa::Portable) return dw_avx2(o, pad16, out), true;
#endif
#ifdef QP_HAVE_NEON_PATH
      if (resolve(isa) != OptIsa::Portable) return dw_neon(o, pad16, out), true;
#endif
      return dw_portable(o, pad16, out), true;
    }
    case OptWeights::Kind::Add:  // vector lanes where the kernel set has them (engine_add.cpp), else the MCU kernel
      return opt_add_s8(l.q.add, o.base.data(), isa, static_cast<int32_t>(l.out.size()), in, in2, out) == QP_STATUS_OK;
    case OptWeights::Kind::Concat: {
      const int8_t *ins[2] = {in, in2};  // two inputs here; any number through opt_run_layer_n
      return opt_concat_s8(l, o, ins, 2, out);
    }
    case OptWeights::Kind::None: break;
  }
  switch (l.op) {
    case model::Op::MaxPool: {
      // The vectorised max pooling covers unpadded windows; a padded one runs engine_opt_ops.cpp's.
      const bool unpadded = l.pad_top == 0 && l.pad_left == 0 && l.in.h >= l.kernel && l.in.w >= l.kernel &&
                            l.out.h == (l.in.h - l.kernel) / l.stride + 1 && l.out.w == (l.in.w - l.kernel) / l.stride + 1;
      if (!unpadded) return opt_maxpool_padded_s8(l, isa, in, out);
      opt_maxpool_s8(l, isa, in, out);
      return true;
    }
    case model::Op::AvgPool:
      if (!opt_pool_windows_valid(l)) return false;  // a window without an input position: the reference refuses
      avgpool_portable(l, in, out);
      return true;
    case model::Op::GlobalAvgPool:
      if (static_cast<int64_t>(l.in.h) * l.in.w > 16777215) return false;  // the reference's limit: it refuses
      global_avgpool_portable(l, in, out);
      return true;
    default: return opt_run_small_op(l, isa, in, out);  // Pad, Mean, Softmax (engine_opt_ops.cpp)
  }
}

}  // namespace qp::quant
