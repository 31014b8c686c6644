// Training learns, and is deterministic on CPU for a seed. Kept small for CI's two cores.
#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "data/image_folder.h"
#include "data/synth.h"
#include "eval/evaluate.h"
#include "model/onnx_io.h"
#include "test_util.h"
#include "train/trainer.h"

using namespace qp;

TEST(Train, ShortRunLearnsWellAboveChance) {
  test::TempDir t;
  data::SynthOptions so;
  so.out_dir = (t / "d").string();
  so.train = 600;
  so.test = 150;
  so.seed = 21;
  data::synth_dataset(so);
  train::TrainOptions to;
  to.data_dir = so.out_dir;
  to.out = (t / "m.onnx").string();
  to.epochs = 60;
  to.patience = 60;
  to.seed = 4;
  const auto s = train::train_model(to);
  EXPECT_EQ(s.log.size(), 60u);
  EXPECT_TRUE(std::filesystem::exists(train::train_log_path(to.out)));
  EXPECT_TRUE(std::filesystem::exists(train::train_curve_path(to.out)));
  const auto mf = model::load_onnx(to.out);
  data::LoadOptions lo;
  lo.classes = mf.graph.classes;
  const auto split = data::load_split((t / "d/test").string(), lo);
  const auto r = eval::evaluate_fp32(mf, split);
  std::printf("short-run test accuracy: %.3f (chance 0.333)\n", r.accuracy());
  EXPECT_GT(r.accuracy(), 0.6);
  EXPECT_EQ(mf.metadata.at("qparity.train.seed"), "4");
}

TEST(Train, SameSeedSameBytesOnCpu) {
  test::TempDir t;
  data::SynthOptions so;
  so.out_dir = (t / "d").string();
  so.train = 90;
  so.test = 3;
  data::synth_dataset(so);
  train::TrainOptions to;
  to.data_dir = so.out_dir;
  to.epochs = 2;
  to.device = "cpu";
  to.out = (t / "a.onnx").string();
  train::train_model(to);
  to.out = (t / "b.onnx").string();
  train::train_model(to);
  EXPECT_EQ(data::read_file_bytes((t / "a.onnx").string()), data::read_file_bytes((t / "b.onnx").string()));
  to.seed = 2;
  to.out = (t / "c.onnx").string();
  train::train_model(to);
  EXPECT_NE(data::read_file_bytes((t / "a.onnx").string()), data::read_file_bytes((t / "c.onnx").string()));
}

TEST(Train, RefusesToOverwriteAndBadOptions) {
  test::TempDir t;
  std::ofstream(t / "exists.onnx") << "keep me";
  train::TrainOptions to;
  to.data_dir = (t / "nowhere").string();
  to.out = (t / "exists.onnx").string();
  EXPECT_THROW(train::train_model(to), Error);
  EXPECT_EQ(data::read_file_bytes(to.out).size(), 7u);
  to.out = (t / "new.onnx").string();
  EXPECT_THROW(train::train_model(to), Error);  // no data
}
