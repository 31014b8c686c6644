// Procedural renderer of the built-in rock/paper/scissors set. A sample is drawn at 4x its size in
// floating point from signed-distance shapes (tapered capsules for fingers and forearm, a rounded box
// for the palm, ellipses and circles), each with a one-pixel anti-aliased edge, over a cluttered
// background; then blurred, toned, quantised, area-downsampled and given sensor noise.
//
// Every random choice comes from one qp::Rng seeded with the sample seed, and the trigonometry is done
// with +,* only (see sincos_det), so the bytes are a pure function of (cls, sample_seed, size).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "data/image_io.h"
#include "data/synth.h"

namespace qp::data {

namespace {

// ---------------------------------------------------------------------------------------------------
// Small vector maths.

struct V2 {
  float x = 0, y = 0;
};
inline V2 operator+(V2 a, V2 b) {
  return {a.x + b.x, a.y + b.y};
}
inline V2 operator-(V2 a, V2 b) {
  return {a.x - b.x, a.y - b.y};
}
inline V2 operator*(V2 a, float s) {
  return {a.x * s, a.y * s};
}
inline float dot(V2 a, V2 b) {
  return a.x * b.x + a.y * b.y;
}
inline float length(V2 a) {
  return std::sqrt(dot(a, a));
}
inline float clamp01(float v) {
  return v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
}
inline float mix(float a, float b, float t) {
  return a + (b - a) * t;
}
inline float smooth01(float t) {
  t = clamp01(t);
  return t * t * (3.f - 2.f * t);
}

struct Rgb {
  float r = 0, g = 0, b = 0;
};
inline Rgb operator*(Rgb c, float s) {
  return {c.r * s, c.g * s, c.b * s};
}
inline Rgb mix(Rgb a, Rgb b, float t) {
  return {mix(a.r, b.r, t), mix(a.g, b.g, t), mix(a.b, b.b, t)};
}

constexpr double kPi = 3.141592653589793;
constexpr double kTwoPi = 6.283185307179586;
constexpr double kHalfPi = 1.5707963267948966;
constexpr float kDeg = static_cast<float>(kPi / 180.0);

// sin(x) for x in [-pi/2, pi/2] by its Taylor series to x^15 (error < 1e-11 there).
double sin_folded(double x) {
  const double x2 = x * x;
  double term = x, sum = x;
  for (int k = 1; k <= 7; ++k) {
    term *= -x2 / static_cast<double>((2 * k) * (2 * k + 1));
    sum += term;
  }
  return sum;
}

// Folds any angle into [-pi/2, pi/2] keeping its sine.
double fold_for_sin(double a) {
  a -= kTwoPi * std::floor(a / kTwoPi + 0.5);  // [-pi, pi]
  if (a > kHalfPi) return kPi - a;
  if (a < -kHalfPi) return -kPi - a;
  return a;
}

// Deterministic sine and cosine: libm's may differ between platforms, these use only +,*,/ and floor.
void sincos_det(double a, float &s, float &c) {
  s = static_cast<float>(sin_folded(fold_for_sin(a)));
  c = static_cast<float>(sin_folded(fold_for_sin(a + kHalfPi)));
}

// A rotation by angle a (image coordinates: x right, y down).
struct Rot {
  float c = 1, s = 0;
  static Rot of(double a) {
    Rot r;
    sincos_det(a, r.s, r.c);
    return r;
  }
  V2 apply(V2 v) const { return {c * v.x - s * v.y, s * v.x + c * v.y}; }
  V2 inverse(V2 v) const { return {c * v.x + s * v.y, -s * v.x + c * v.y}; }
  Rot then(const Rot &o) const { return {c * o.c - s * o.s, s * o.c + c * o.s}; }  // angle sum
};

// Polynomial smooth minimum: unions two distance fields with a fillet of size k.
inline float smin(float a, float b, float k) {
  const float h = clamp01(0.5f + 0.5f * (b - a) / k);
  return mix(b, a, h) - k * h * (1.f - h);
}

// ---------------------------------------------------------------------------------------------------
// Shapes in image (4x pixel) coordinates. Each gives a signed distance (negative inside) and a box.

struct Box {
  float x0, y0, x1, y1;
  Box grow(float m) const { return {x0 - m, y0 - m, x1 + m, y1 + m}; }
  Box unite(const Box &o) const { return {std::min(x0, o.x0), std::min(y0, o.y0), std::max(x1, o.x1), std::max(y1, o.y1)}; }
};

// Segment a-b swept by a radius going linearly from ra (at a) to rb (at b). For the gentle tapers used
// here the radius at the closest point on the axis is a close stand-in for the exact distance.
struct Capsule {
  V2 a, b;
  float ra, rb;
  // Returns the distance; t receives the axis parameter in [0, 1] of the closest point.
  float dist(V2 p, float &t) const {
    const V2 pa = p - a, ba = b - a;
    const float bb = dot(ba, ba);
    t = bb > 0.f ? clamp01(dot(pa, ba) / bb) : 0.f;
    return length(pa - ba * t) - mix(ra, rb, t);
  }
  float dist(V2 p) const {
    float t;
    return dist(p, t);
  }
  Box box() const {
    const float r = std::max(ra, rb);
    return {std::min(a.x, b.x) - r, std::min(a.y, b.y) - r, std::max(a.x, b.x) + r, std::max(a.y, b.y) + r};
  }
};

// Rectangle of half extents (hx, hy) with corner radius rr, rotated by rot about its centre.
struct RoundBox {
  V2 c;
  Rot rot;
  float hx, hy, rr;
  float dist(V2 p) const {
    const V2 q = rot.inverse(p - c);
    const float qx = std::fabs(q.x) - hx + rr, qy = std::fabs(q.y) - hy + rr;
    const float ox = std::max(qx, 0.f), oy = std::max(qy, 0.f);
    return std::sqrt(ox * ox + oy * oy) + std::min(std::max(qx, qy), 0.f) - rr;
  }
  Box box() const {
    const float ex = std::fabs(rot.c) * hx + std::fabs(rot.s) * hy, ey = std::fabs(rot.s) * hx + std::fabs(rot.c) * hy;
    return {c.x - ex, c.y - ey, c.x + ex, c.y + ey};
  }
};

// Ellipse with radii (rx, ry), rotated; distance by the first-order estimate |f| / |grad f|.
struct Ellipse {
  V2 c;
  Rot rot;
  float rx, ry;
  float dist(V2 p) const {
    const V2 q = rot.inverse(p - c);
    const float ux = q.x / rx, uy = q.y / ry;
    const float k0 = std::sqrt(ux * ux + uy * uy);
    const float gx = ux / rx, gy = uy / ry;
    const float k1 = std::sqrt(gx * gx + gy * gy);
    if (k1 < 1e-6f) return -std::min(rx, ry);
    return k0 * (k0 - 1.f) / k1;
  }
  Box box() const {
    const float r = std::max(rx, ry);
    return {c.x - r, c.y - r, c.x + r, c.y + r};
  }
};

// ---------------------------------------------------------------------------------------------------
// The float canvas and the one compositing loop everything goes through.

struct Canvas {
  int n = 0;
  std::vector<float> px;  // n*n*3, RGB in 0..255
  explicit Canvas(int side) : n(side), px(static_cast<size_t>(side) * side * 3, 0.f) {}
};

// Paints a shape: for every pixel of `box` (clipped to the canvas), `dist(p)` gives the signed distance
// in pixels, the coverage is a ramp `soft` pixels wide centred on the edge, and `shade(p, d, rgb)`
// gives the colour and returns an extra opacity factor.
template <class Dist, class Shade>
void paint(Canvas &cv, const Box &box, float soft, float opacity, Dist &&dist, Shade &&shade) {
  const Box b = box.grow(soft);
  const int x0 = std::max(0, static_cast<int>(std::floor(b.x0))), y0 = std::max(0, static_cast<int>(std::floor(b.y0)));
  const int x1 = std::min(cv.n, static_cast<int>(std::ceil(b.x1)) + 1),
            y1 = std::min(cv.n, static_cast<int>(std::ceil(b.y1)) + 1);
  const float inv_soft = 1.f / soft;
  for (int y = y0; y < y1; ++y) {
    float *row = &cv.px[static_cast<size_t>(y) * cv.n * 3];
    for (int x = x0; x < x1; ++x) {
      const V2 p{x + 0.5f, y + 0.5f};
      const float d = dist(p);
      float a = 0.5f - d * inv_soft;
      if (a <= 0.f) continue;
      if (a > 1.f) a = 1.f;
      Rgb c;
      a *= opacity * shade(p, d, c);
      if (a <= 0.f) continue;
      float *q = row + static_cast<size_t>(x) * 3;
      q[0] += (c.r - q[0]) * a;
      q[1] += (c.g - q[1]) * a;
      q[2] += (c.b - q[2]) * a;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Colours.

Rgb hsv(float h, float s, float v) {  // h in [0,1), s,v in [0,1]; result 0..255
  h = (h - std::floor(h)) * 6.f;
  const int i = std::min(5, static_cast<int>(h));
  const float f = h - static_cast<float>(i);
  const float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  Rgb c;
  switch (i) {
    case 0: c = {v, t, p}; break;
    case 1: c = {q, v, p}; break;
    case 2: c = {p, v, t}; break;
    case 3: c = {p, q, v}; break;
    case 4: c = {t, p, v}; break;
    default: c = {v, p, q}; break;
  }
  return c * 255.f;
}

Rgb random_color(Rng &rng) {
  const float sat = rng.chance(0.25) ? static_cast<float>(rng.uniform(0.0, 0.15)) : static_cast<float>(rng.uniform(0.15, 0.9));
  return hsv(static_cast<float>(rng.uniform()), sat, static_cast<float>(rng.uniform(0.12, 0.98)));
}

// Skin from pale to dark brown along a piecewise-linear tone curve, jittered.
Rgb skin_tone(Rng &rng) {
  static const std::array<Rgb, 6> tones = {
      {{240, 212, 192}, {226, 180, 150}, {200, 146, 108}, {164, 110, 74}, {120, 78, 52}, {80, 52, 38}}};
  const float t = static_cast<float>(rng.uniform()) * 5.f;
  const int i = std::min(4, static_cast<int>(t));
  Rgb c = mix(tones[static_cast<size_t>(i)], tones[static_cast<size_t>(i) + 1], t - static_cast<float>(i));
  const float j = 10.f;
  c.r += static_cast<float>(rng.uniform(-j, j));
  c.g += static_cast<float>(rng.uniform(-j, j));
  c.b += static_cast<float>(rng.uniform(-j, j));
  return c;
}

Rgb hand_color(Rng &rng) {
  const double u = rng.uniform();
  if (u < 0.05) {  // glove: latex blue, black, white, yellow, green or anything
    static const std::array<Rgb, 5> gloves = {{{70, 120, 210}, {35, 35, 40}, {225, 225, 220}, {230, 200, 60}, {80, 160, 90}}};
    const uint32_t k = rng.below(6);
    Rgb c = k < 5 ? gloves[k] : random_color(rng);
    return c * static_cast<float>(rng.uniform(0.8, 1.1));
  }
  Rgb c = skin_tone(rng);
  if (u < 0.1) {  // odd tint (coloured light, white balance gone wrong)
    c.r *= static_cast<float>(rng.uniform(0.7, 1.15));
    c.g *= static_cast<float>(rng.uniform(0.7, 1.15));
    c.b *= static_cast<float>(rng.uniform(0.7, 1.3));
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------
// Background: a gradient, sometimes split into two surfaces, then clutter.

// A linear light ramp: factor 1 + k * (signed position along dir / extent).
struct Ramp {
  V2 c, dir;
  float k = 0, inv_extent = 1;
  float at(V2 p) const { return 1.f + k * dot(p - c, dir) * inv_extent; }
};

Ramp random_ramp(Rng &rng, V2 c, float extent, float kmax) {
  Ramp r;
  const Rot d = Rot::of(rng.uniform(0.0, kTwoPi));
  r.c = c;
  r.dir = {d.c, d.s};
  r.k = static_cast<float>(rng.uniform(0.0, kmax));
  r.inv_extent = 1.f / extent;
  return r;
}

void draw_background(Canvas &cv, Rng &rng) {
  const float n = static_cast<float>(cv.n);
  const Rgb c1 = random_color(rng);
  const Rgb c2 = rng.chance(0.5) ? mix(c1, random_color(rng), 0.5f) : random_color(rng);
  const Rot d = Rot::of(rng.uniform(0.0, kTwoPi));
  const V2 mid{n * 0.5f, n * 0.5f};
  const float inv = 1.f / n;
  for (int y = 0; y < cv.n; ++y)
    for (int x = 0; x < cv.n; ++x) {
      const V2 p{x + 0.5f, y + 0.5f};
      const Rgb c = mix(c1, c2, clamp01(0.5f + dot(p - mid, {d.c, d.s}) * inv));
      float *q = &cv.px[(static_cast<size_t>(y) * cv.n + x) * 3];
      q[0] = c.r;
      q[1] = c.g;
      q[2] = c.b;
    }
  // Sometimes a second surface (table edge, wall) across the frame.
  if (rng.chance(0.35)) {
    const Rot r = Rot::of(rng.uniform(0.0, kTwoPi));
    const RoundBox half{mid + V2{r.c, r.s} * (n * static_cast<float>(rng.uniform(0.2, 0.9))), r, n, n, 0.f};
    const Rgb c3 = random_color(rng);
    const Ramp shade = random_ramp(rng, mid, n, 0.4f);
    paint(
        cv, half.box(), static_cast<float>(rng.uniform(1.0, 3.0)), 1.f, [&](V2 p) { return half.dist(p); },
        [&](V2 p, float, Rgb &c) {
          c = c3 * shade.at(p);
          return 1.f;
        });
  }
}

// A random background object: circle/ellipse, rectangle, ring, line or skin-coloured blob.
void draw_clutter_item(Canvas &cv, Rng &rng, Rgb skin, bool skin_like) {
  const float n = static_cast<float>(cv.n);
  const V2 c{static_cast<float>(rng.uniform(-0.1, 1.1)) * n, static_cast<float>(rng.uniform(-0.1, 1.1)) * n};
  Rgb col =
      skin_like ? (rng.chance(0.5) ? skin * static_cast<float>(rng.uniform(0.85, 1.15)) : skin_tone(rng)) : random_color(rng);
  const float soft = rng.chance(0.25) ? static_cast<float>(rng.uniform(2.0, 7.0)) : 1.f;
  const float opacity = rng.chance(0.2) ? static_cast<float>(rng.uniform(0.4, 0.9)) : 1.f;
  const float size = n * static_cast<float>(rng.uniform(0.04, 0.35));
  const Ramp shade = random_ramp(rng, c, size, 0.5f);
  auto shade_fn = [&](V2 p, float, Rgb &out) {
    out = col * shade.at(p);
    return 1.f;
  };
  const uint32_t kind = skin_like ? 6 + rng.below(2) : rng.below(8);
  const Rot rot = Rot::of(rng.uniform(0.0, kTwoPi));
  switch (kind) {
    case 0:
    case 1: {
      const Ellipse e{c, rot, size, size * static_cast<float>(rng.uniform(0.4, 1.0))};
      paint(
          cv, e.box(), soft, opacity, [&](V2 p) { return e.dist(p); }, shade_fn);
      break;
    }
    case 2:
    case 3: {
      const float hx = size, hy = size * static_cast<float>(rng.uniform(0.2, 1.0));
      const RoundBox b{c, rot, hx, hy, std::min(hx, hy) * static_cast<float>(rng.uniform(0.0, 0.5))};
      paint(
          cv, b.box(), soft, opacity, [&](V2 p) { return b.dist(p); }, shade_fn);
      break;
    }
    case 4: {  // ring
      const float w = size * static_cast<float>(rng.uniform(0.08, 0.3));
      paint(
          cv, Box{c.x - size, c.y - size, c.x + size, c.y + size}, soft, opacity,
          [&](V2 p) { return std::fabs(length(p - c) - size + w) - w; }, shade_fn);
      break;
    }
    case 5: {  // line / stick
      const V2 half = V2{rot.c, rot.s} * (size * 2.f);
      const float w = n * static_cast<float>(rng.uniform(0.006, 0.03));
      const Capsule k{c - half, c + half, w, w};
      paint(
          cv, k.box(), soft, opacity, [&](V2 p) { return k.dist(p); }, shade_fn);
      break;
    }
    default: {  // finger-like or blob-like skin-ish object with a darker rim
      const float w = n * static_cast<float>(rng.uniform(0.03, 0.09));
      const V2 half = V2{rot.c, rot.s} * (size * static_cast<float>(rng.uniform(0.3, 1.2)));
      const Capsule k{c - half, c + half, w, w * static_cast<float>(rng.uniform(0.7, 1.3))};
      paint(
          cv, k.box(), 1.f, opacity, [&](V2 p) { return k.dist(p); },
          [&](V2 p, float d, Rgb &out) {
            const float t = clamp01(-d / w);
            out = col * (shade.at(p) * (1.f - 0.35f * (1.f - t) * (1.f - t)));
            return 1.f;
          });
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The hand, modelled in "palm units" (palm width = 1) in a local frame: +x toward the pinky (mirrored
// for the other hand), -y toward the fingertips, palm centred at the origin.

struct Frame {
  V2 c;     // image position of the local origin
  float s;  // pixels per palm unit
  Rot rot;
  float mirror;  // +1 or -1
  V2 at(V2 l) const { return c + rot.apply({l.x * mirror, l.y}) * s; }
};

// Local direction of a finger at angle `a` from straight up, positive toward the pinky side.
V2 finger_dir(float a) {
  const Rot r = Rot::of(a);
  return {r.s, -r.c};
}

struct HandStyle {
  Rgb skin;
  Ramp light;       // lighting gradient across the hand
  float edge_dark;  // how much darker a shape's rim is (cylindrical shading)
  float line_dark;  // outline darkening
  float line_w;     // outline width in pixels
};

// Colour of hand material at p, with distance d (negative inside) into a part of radius r (pixels).
inline Rgb hand_shade(const HandStyle &st, V2 p, float d, float r) {
  const float t = clamp01(-d / r);
  float f = st.light.at(p) * (1.f - st.edge_dark * (1.f - t) * (1.f - t));
  const float in = -d;
  if (in < st.line_w) f *= 1.f - st.line_dark * (1.f - clamp01(in / st.line_w));
  return st.skin * f;
}

struct Part {
  Capsule cap;
  float fade_px;  // > 0: opacity ramps in over this many pixels from the base (blends into the palm)
};

void draw_part(Canvas &cv, const HandStyle &st, const Part &part) {
  const Capsule &k = part.cap;
  const float r = std::max(k.ra, k.rb);
  const float len = length(k.b - k.a);
  paint(
      cv, k.box(), 1.f, 1.f, [&](V2 p) { return k.dist(p); },
      [&](V2 p, float d, Rgb &out) {
        out = hand_shade(st, p, d, r);
        if (part.fade_px <= 0.f) return 1.f;
        const float along = dot(p - k.a, k.b - k.a) / std::max(len, 1e-3f);
        return smooth01(along / part.fade_px);
      });
}

void draw_hand(Canvas &cv, Rng &rng, int cls, Rgb skin) {
  const float n = static_cast<float>(cv.n);

  // --- pose of the whole hand
  const float span = static_cast<float>(rng.chance(0.03) ? rng.uniform(0.42, 0.6) : rng.uniform(0.6, 0.95));  // of the frame
  const float extent = cls == 0 ? 1.3f : 1.95f;  // hand length in palm units
  Frame fr;
  fr.s = span * n / extent;
  {
    // Any angle can occur, but like photos most hands come up from the bottom edge or in from a side.
    const double u = rng.uniform();
    const double a = u < 0.88   ? rng.uniform(-0.45, 0.45)
                     : u < 0.96 ? (rng.chance(0.5) ? 1.0 : -1.0) * kHalfPi + rng.uniform(-0.5, 0.5)
                                : rng.uniform(0.0, kTwoPi);
    fr.rot = Rot::of(a);
  }
  fr.mirror = rng.chance(0.5) ? 1.f : -1.f;
  const V2 local_centre{0.f, cls == 0 ? -0.08f : -0.42f};
  const bool crop = rng.chance(0.04);
  const double lo = crop ? 0.0 : 0.3, hi = crop ? 1.0 : 0.7;
  const V2 want{static_cast<float>(rng.uniform(lo, hi)) * n, static_cast<float>(rng.uniform(lo, hi)) * n};
  fr.c = {0.f, 0.f};
  fr.c = want - fr.at(local_centre);
  const float s = fr.s;

  HandStyle st;
  st.skin = skin;
  st.light = random_ramp(rng, fr.at({0.f, -0.3f}), s * 1.2f, 0.45f);
  st.edge_dark = static_cast<float>(rng.uniform(0.15, 0.45));
  st.line_dark = static_cast<float>(rng.uniform(0.12, 0.4));
  st.line_w = std::max(1.2f, s * static_cast<float>(rng.uniform(0.025, 0.05)));

  // --- palm, wrist, forearm
  const float hx = static_cast<float>(cls == 0 ? rng.uniform(0.5, 0.56) : rng.uniform(0.47, 0.53));
  const float hy = static_cast<float>(cls == 0 ? rng.uniform(0.42, 0.5) : rng.uniform(0.48, 0.58));
  const float wrist_bend = static_cast<float>(rng.uniform(-0.35, 0.35));
  const V2 wrist = {0.f, hy * 0.55f};
  const V2 fdir = finger_dir(static_cast<float>(kPi) + wrist_bend);  // pointing away from the fingers
  const float wrist_r = static_cast<float>(rng.uniform(0.31, 0.38));
  const float arm_len = 7.f;
  const Capsule arm{fr.at(wrist), fr.at(wrist + fdir * arm_len), wrist_r * s, wrist_r * s * 1.45f};
  const RoundBox palm{fr.at({0.f, 0.f}), Rot{fr.rot.c, fr.rot.s}, hx * s, hy * s,
                      static_cast<float>(rng.uniform(0.18, 0.27)) * s};
  // Thenar eminence (the thumb's muscle) bulging on the thumb side of the palm.
  const Rot thenar_rot = fr.rot.then(Rot::of(fr.mirror * 0.35));
  const Ellipse thenar{fr.at({-hx * 0.55f, hy * 0.35f}), thenar_rot, 0.26f * s, 0.38f * s};
  const float k_union = 0.12f * s;

  // Optional drop shadow of the hand body on the background.
  if (rng.chance(0.4)) {
    const Rot so = Rot::of(rng.uniform(0.0, kTwoPi));
    const V2 off = V2{so.c, so.s} * (s * static_cast<float>(rng.uniform(0.05, 0.2)));
    const float soft = s * 0.25f, dark = static_cast<float>(rng.uniform(0.2, 0.45));
    const Box b = palm.box().unite(arm.box()).grow(s * 0.5f);
    paint(
        cv, Box{b.x0 + off.x, b.y0 + off.y, b.x1 + off.x, b.y1 + off.y}, soft, dark,
        [&](V2 p) {
          const V2 q = p - off;
          return std::min(arm.dist(q), palm.dist(q)) - s * 0.3f;
        },
        [&](V2 p, float, Rgb &out) {
          const float *q = &cv.px[(static_cast<size_t>(p.y) * cv.n + static_cast<size_t>(p.x)) * 3];
          out = Rgb{q[0], q[1], q[2]} * 0.25f;
          return 1.f;
        });
  }

  const Box body_box = arm.box().unite(palm.box()).unite(thenar.box());
  paint(
      cv, body_box, 1.f, 1.f,
      [&](V2 p) { return smin(smin(arm.dist(p), palm.dist(p), k_union), thenar.dist(p), k_union * 0.5f); },
      [&](V2 p, float d, Rgb &out) {
        out = hand_shade(st, p, d, 0.35f * s);
        return 1.f;
      });

  // Sleeve covering the forearm from some distance on.
  if (rng.chance(0.4)) {
    const float from = static_cast<float>(rng.uniform(0.8, 2.2));
    const Rgb cloth = random_color(rng);
    const float r0 = wrist_r * static_cast<float>(rng.uniform(1.35, 1.7));
    const Capsule sleeve{fr.at(wrist + fdir * from), fr.at(wrist + fdir * arm_len), r0 * s, r0 * s * 1.2f};
    const float sl_dark = static_cast<float>(rng.uniform(0.2, 0.5));
    paint(
        cv, sleeve.box(), 1.f, 1.f, [&](V2 p) { return sleeve.dist(p); },
        [&](V2 p, float d, Rgb &out) {
          const float t = clamp01(-d / (r0 * s));
          out = cloth * (st.light.at(p) * (1.f - sl_dark * (1.f - t) * (1.f - t)));
          return 1.f;
        });
  }

  // --- fingers: index, middle, ring, pinky
  const std::array<float, 4> base_x = {-0.34f * hx / 0.5f, -0.115f * hx / 0.5f, 0.115f * hx / 0.5f, 0.33f * hx / 0.5f};
  const std::array<float, 4> base_drop = {0.03f, 0.f, 0.02f, 0.07f};  // knuckle line is arched
  const std::array<float, 4> base_len = {0.78f, 0.86f, 0.8f, 0.62f};
  const float fw = static_cast<float>(rng.uniform(0.9, 1.12));
  const std::array<float, 4> radius = {0.118f * fw, 0.123f * fw, 0.115f * fw, 0.1f * fw};
  const float top = -hy;
  float len_scale = static_cast<float>(rng.uniform(0.85, 1.12));

  std::array<bool, 4> extended{};
  std::array<float, 4> angle{};
  const float lean = static_cast<float>(rng.uniform(-0.15, 0.15));
  if (cls == 1) {
    extended = {true, true, true, true};
    float spread = rng.chance(0.05) ? static_cast<float>(rng.uniform(0.0, 0.05)) : static_cast<float>(rng.uniform(0.08, 0.24));
    if (rng.chance(0.04)) len_scale *= static_cast<float>(rng.uniform(0.55, 0.8));  // short / curled fingers
    for (int i = 0; i < 4; ++i)
      angle[static_cast<size_t>(i)] =
          lean + (static_cast<float>(i) - 1.4f) * spread + static_cast<float>(rng.uniform(-0.04, 0.04));
  } else if (cls == 2) {
    extended = {true, true, false, false};
    const float v = rng.chance(0.04) ? static_cast<float>(rng.uniform(0.03, 0.18)) : static_cast<float>(rng.uniform(0.3, 0.95));
    angle[0] = lean - v * 0.55f;
    angle[1] = lean + v * 0.45f;
  }

  // Extended fingers first (pinky to index so the index is on top), blending into the palm at the base.
  std::array<Part, 4> parts{};
  for (int i = 3; i >= 0; --i) {
    const size_t u = static_cast<size_t>(i);
    if (!extended[u]) continue;
    const V2 base{base_x[u], top + base_drop[u] + 0.16f};
    const float len = (base_len[u] + 0.16f) * len_scale * static_cast<float>(rng.uniform(0.9, 1.08)) *
                      (cls == 2 ? static_cast<float>(rng.uniform(0.8, 1.05)) : 1.f);
    const V2 tip = base + finger_dir(angle[u]) * len;
    parts[u] = {Capsule{fr.at(base), fr.at(tip), radius[u] * s, radius[u] * s * 0.86f}, 0.14f * s};
    draw_part(cv, st, parts[u]);
    // Nail on the back of the hand view, subtle.
    if (fr.mirror > 0.f) {
      const V2 d = finger_dir(angle[u]);
      const V2 nb = tip - d * (radius[u] * 1.6f), nt = tip - d * (radius[u] * 0.35f);
      const Capsule nail{fr.at(nb), fr.at(nt), radius[u] * s * 0.55f, radius[u] * s * 0.5f};
      const Rgb nc = mix(skin, Rgb{235, 200, 195}, 0.35f);
      paint(
          cv, nail.box(), 1.f, 0.45f, [&](V2 p) { return nail.dist(p); },
          [&](V2 p, float, Rgb &out) {
            out = nc * st.light.at(p);
            return 1.f;
          });
    }
  }

  // Folded fingers: a knuckle bump on the top of the palm and the curled finger lying over the palm.
  const float curl = static_cast<float>(rng.uniform(0.22, 0.42));
  const bool back_view = cls == 0 && rng.chance(0.15);
  for (int i = 3; i >= 0; --i) {
    const size_t u = static_cast<size_t>(i);
    if (extended[u]) continue;
    const float r = radius[u] * 1.12f;
    const V2 k0{base_x[u] * 1.02f, top + base_drop[u] * 0.5f + r * 0.6f};
    const V2 k1 = k0 + V2{static_cast<float>(rng.uniform(-0.03, 0.03)), back_view ? curl * 0.45f : curl};
    draw_part(cv, st, {Capsule{fr.at(k0), fr.at(k1), r * s, r * s * 0.95f}, 0.f});
  }

  // --- thumb
  const float tr = static_cast<float>(rng.uniform(0.115, 0.14));
  const V2 tbase{-hx * 0.62f, hy * 0.42f};
  Capsule thumb;
  bool thumb_blend = false;
  if (cls == 1) {
    if (rng.chance(0.12)) {  // thumb held along the index finger
      const V2 tip = tbase + finger_dir(-0.2f) * 0.95f;
      thumb = {fr.at(tbase + V2{-0.05f, 0.f}), fr.at(tip + V2{-0.06f, 0.f}), tr * s, tr * s * 0.85f};
    } else {
      const float a = -static_cast<float>(rng.uniform(0.55, 1.45));
      const float len = static_cast<float>(rng.uniform(0.75, 1.0)) * len_scale;
      thumb = {fr.at(tbase), fr.at(tbase + finger_dir(a) * len), tr * s, tr * s * 0.85f};
    }
    thumb_blend = true;
  } else {
    const double u = rng.uniform();
    if (back_view || u < 0.18) {  // thumb along the side of the fist, pointing up
      thumb = {fr.at(tbase + V2{-0.05f, 0.f}), fr.at(V2{-hx * 0.95f, top + 0.15f}), tr * s, tr * s * 0.9f};
      thumb_blend = true;
    } else if (u < 0.28) {  // thumb sticking out a bit
      const float a = -static_cast<float>(rng.uniform(0.6, 1.3));
      thumb = {fr.at(tbase), fr.at(tbase + finger_dir(a) * static_cast<float>(rng.uniform(0.4, 0.6))), tr * s, tr * s * 0.88f};
      thumb_blend = true;
    } else {  // across the folded fingers
      const float y_end = cls == 0 ? static_cast<float>(rng.uniform(-0.05, 0.1)) : static_cast<float>(rng.uniform(-0.15, 0.0));
      const float x_end = cls == 0 ? static_cast<float>(rng.uniform(0.0, 0.2)) : static_cast<float>(rng.uniform(0.05, 0.3));
      thumb = {fr.at(V2{-hx * 0.75f, hy * 0.3f}), fr.at(V2{x_end, y_end}), tr * s, tr * s * 0.9f};
    }
  }
  draw_part(cv, st, {thumb, thumb_blend ? 0.12f * s : 0.f});
}

// ---------------------------------------------------------------------------------------------------
// Post-processing.

// One box-blur pass of radius r along rows (horizontal) or columns, clamped at the borders: each line is
// copied into a padded buffer, then a running sum slides over it.
void box_blur_pass(Canvas &cv, int r, bool horizontal, std::vector<float> &pad) {
  const int n = cv.n;
  const float inv = 1.f / static_cast<float>(2 * r + 1);
  pad.resize(static_cast<size_t>(n + 2 * r) * 3);
  const size_t stride = horizontal ? 3 : static_cast<size_t>(n) * 3;
  for (int j = 0; j < n; ++j) {
    float *base = horizontal ? &cv.px[static_cast<size_t>(j) * n * 3] : &cv.px[static_cast<size_t>(j) * 3];
    for (int i = -r; i < n + r; ++i) {
      const float *src = base + static_cast<size_t>(std::clamp(i, 0, n - 1)) * stride;
      float *dst = &pad[static_cast<size_t>(i + r) * 3];
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
    }
    float a0 = 0, a1 = 0, a2 = 0;
    for (int i = 0; i < 2 * r + 1; ++i) {
      a0 += pad[static_cast<size_t>(i) * 3];
      a1 += pad[static_cast<size_t>(i) * 3 + 1];
      a2 += pad[static_cast<size_t>(i) * 3 + 2];
    }
    for (int i = 0; i < n; ++i) {
      float *dst = base + static_cast<size_t>(i) * stride;
      dst[0] = a0 * inv;
      dst[1] = a1 * inv;
      dst[2] = a2 * inv;
      if (i + 1 == n) break;
      const float *add = &pad[static_cast<size_t>(i + 2 * r + 1) * 3];
      const float *sub = &pad[static_cast<size_t>(i) * 3];
      a0 += add[0] - sub[0];
      a1 += add[1] - sub[1];
      a2 += add[2] - sub[2];
    }
  }
}

// 0..255 byte of a float, rounding half up (v >= 0 after the clamp, so truncation of v + 0.5 rounds).
inline uint8_t to_byte(float v) {
  v = v < 0.f ? 0.f : (v > 255.f ? 255.f : v);
  return static_cast<uint8_t>(static_cast<int>(v + 0.5f));
}

}  // namespace

Image synth_render(int cls, uint64_t sample_seed, int size) {
  if (cls < 0 || cls > 2) fail("synth_render: class " + std::to_string(cls) + " is not 0 (rock), 1 (paper) or 2 (scissors)");
  if (size < 4 || size > 1024)
    fail("synth_render: size " + std::to_string(size) + " is out of range", "use a size from 4 to 1024");
  Rng rng(sample_seed);
  const int n = size * 4;
  Canvas cv(n);

  const Rgb skin = hand_color(rng);

  draw_background(cv, rng);
  const int items = static_cast<int>(rng.below(rng.chance(0.1) ? 10 : 5));
  const bool distractors = rng.chance(0.07);
  for (int i = 0; i < items; ++i) draw_clutter_item(cv, rng, skin, distractors && i == items - 1);

  draw_hand(cv, rng, cls, skin);

  // Occasionally an object in front of the hand.
  if (rng.chance(0.04)) draw_clutter_item(cv, rng, skin, false);

  // Blur: up to three box passes per axis (close to a Gaussian of sigma sqrt(r(r+1))).
  const double bu = rng.uniform();
  const int blur_r = bu < 0.6 ? 0 : bu < 0.85 ? 1 : bu < 0.96 ? 2 : 3;
  if (blur_r > 0) {
    std::vector<float> pad;
    const int passes = 2 + static_cast<int>(rng.below(2));
    for (int k = 0; k < passes; ++k) {
      box_blur_pass(cv, blur_r, true, pad);
      box_blur_pass(cv, blur_r, false, pad);
    }
  }

  // Global tone: lighting gradient over the frame, white balance, exposure and contrast.
  const Ramp glight = random_ramp(rng, {n * 0.5f, n * 0.5f}, static_cast<float>(n), 0.6f);
  const float wb_r = static_cast<float>(rng.uniform(0.9, 1.1)), wb_b = static_cast<float>(rng.uniform(0.9, 1.1));
  const float exposure = static_cast<float>(rng.uniform(0.7, 1.2));
  const float contrast = static_cast<float>(rng.uniform(0.75, 1.15));
  Image big;
  big.width = big.height = n;
  big.channels = 3;
  big.pixels.resize(static_cast<size_t>(n) * n * 3);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      const size_t o = (static_cast<size_t>(y) * n + x) * 3;
      const float g = glight.at({x + 0.5f, y + 0.5f}) * exposure;
      const float wb[3] = {wb_r, 1.f, wb_b};
      for (int ch = 0; ch < 3; ++ch) {
        const float v = (cv.px[o + ch] * g * wb[ch] - 128.f) * contrast + 128.f;
        big.pixels[o + static_cast<size_t>(ch)] = to_byte(v);
      }
    }

  Image out = resize_area(big, size, size);

  // Sensor noise: luminance plus a little chroma, Gaussian.
  const float sigma = rng.chance(0.05) ? static_cast<float>(rng.uniform(4.0, 9.0)) : static_cast<float>(rng.uniform(0.0, 4.0));
  if (sigma > 0.5f) {
    for (size_t i = 0; i < out.pixels.size(); i += 3) {
      const float lum = static_cast<float>(rng.normal()) * sigma;
      for (size_t ch = 0; ch < 3; ++ch) {
        const float v = static_cast<float>(out.pixels[i + ch]) + lum + static_cast<float>(rng.normal()) * sigma * 0.35f;
        out.pixels[i + ch] = to_byte(v);
      }
    }
  }
  return out;
}

}  // namespace qp::data
