// The built-in rock/paper/scissors dataset: procedurally rendered hand gestures written as an
// ImageFolder tree DIR/{train,test}/{rock,paper,scissors}/NNNNN.png plus DIR/classes.txt and
// DIR/manifest.json. Same options, same bytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_io.h"

namespace qp::data {

// Class indices of the built-in set, in the seed's order.
inline const std::vector<std::string> &synth_class_names() {
  static const std::vector<std::string> names = {"rock", "paper", "scissors"};
  return names;
}

// Renders one sample of class `cls` (0 rock, 1 paper, 2 scissors) at `size` x `size` RGB. Everything
// random about the sample (pose, skin, background, clutter, lighting, blur, noise) is drawn from
// `sample_seed`, so a sample is a pure function of (cls, sample_seed, size). Rendered at 4x and
// downsampled with the area filter.
Image synth_render(int cls, uint64_t sample_seed, int size = 32);

struct SynthOptions {
  std::string out_dir;
  int train = 2520;
  int test = 427;
  uint64_t seed = 1;
  int size = 32;       // image side; each sample's pose, colours and clutter come from its seed alone, so a
                       // 64-pixel set shows the same scenes as the 32-pixel one with 4x the pixels
  int threads = 0;     // 0 = all cores
  bool force = false;  // replace an existing dataset with different parameters
};

struct SynthSummary {
  int train = 0;
  int test = 0;
  bool reused = false;  // an identical dataset was already there
  double seconds = 0;
};

// Number of images of class `cls` in a balanced split of `n` images over `classes` classes.
int synth_class_count(int n, int classes, int cls);

SynthSummary synth_dataset(const SynthOptions &opt);

}  // namespace qp::data
