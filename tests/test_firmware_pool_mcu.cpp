// The MCU pooling kernels in the firmware (QP_NODE_MAX_POOL_MCU, QP_NODE_AVG_POOL_MCU, QP_NODE_GLOBAL_AVG_POOL_MCU,
// QP_NODE_MEAN_MCU) on both emulated boards: a model with 'same' and 'valid' average and max pooling at odd sizes
// (padded windows at the borders), 8 and 12 channels (the word loads) and 6 (the byte loops), Mean kept as a 1x1
// map and global average pooling. Every node's output (TRACE CRCs) and the scores equal the host reference
// engine's; the reference kernel set still names the reference nodes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "device/client.h"
#include "device/emulator.h"
#include "device/qp_proto.h"
#include "firmware/build.h"
#include "firmware/codegen.h"
#include "quant/qmodel.h"
#include "test_quant_util.h"
#include "test_util.h"

using namespace qp;

namespace {

bool have(const std::string &exe) { return std::system(("command -v " + exe + " >/dev/null 2>&1").c_str()) == 0; }

const char *kPoolSpec =
    "conv3x3(8) relu avgpool3s1same maxpool3s2same conv1x1(6) relu avgpool2 avgpool3s1same conv1x1(12) relu maxpool2 "
    "meankeep conv1x1(8) relu gap dense(K) softmax";

std::string model_c(const firmware::Files &files) {
  for (const auto &[rel, content] : files)
    if (rel.ends_with("qp_model.c")) return content;
  return {};
}

void expect_pool_bit_exact_on(const std::string &target) {
  if (!have(target == "qemu-rv32" ? "qemu-system-riscv32" : "qemu-system-xtensa")) GTEST_SKIP() << target << " not installed";
  test::TempDir dir;
  const auto m = test::quantized_random_model(dir, kPoolSpec, 19, 61);
  const quant::Int8Engine engine(m, quant::Backend::Reference);
  const auto ref_pkg = model_c(firmware::generate_model_package(m, std::string(64, 'a'), {}, nullptr, firmware::Kernels::Reference));
  for (const char *node : {"{QP_NODE_AVG_POOL,", "{QP_NODE_MAX_POOL,", "{QP_NODE_MEAN,", "{QP_NODE_GLOBAL_AVG_POOL,"})
    EXPECT_NE(ref_pkg.find(node), std::string::npos) << node;
  const auto files =
      firmware::generate_project(firmware::find_target(target), m, std::string(64, 'a'), {}, nullptr, firmware::Kernels::Mcu);
  const auto pkg = model_c(files);
  for (const char *node : {"{QP_NODE_AVG_POOL_MCU,", "{QP_NODE_MAX_POOL_MCU,", "{QP_NODE_MEAN_MCU,", "{QP_NODE_GLOBAL_AVG_POOL_MCU,"})
    EXPECT_NE(pkg.find(node), std::string::npos) << node;
  EXPECT_EQ(pkg.find("{QP_NODE_AVG_POOL,"), std::string::npos);
  firmware::write_project(files, (dir / "fw").string(), false);
  device::EmulatorOptions eo;
  eo.target = target;
  eo.elf = firmware::build_firmware((dir / "fw").string());
  eo.workdir = (dir / "logs").string();
  eo.icount = false;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  EXPECT_EQ(client.wait_ready(60000).layers, static_cast<int>(m.layers.size()));
  for (uint64_t s = 0; s < 3; ++s) {
    const auto img = test::random_image(19, 19, 700 + s);
    std::vector<std::vector<int8_t>> trace;
    EXPECT_EQ(client.infer(img.pixels).scores, engine.run(img.pixels.data(), &trace)) << target << " image " << s;
    const auto t = client.trace(img.pixels);
    ASSERT_EQ(t.crc.size(), trace.size());
    for (size_t k = 0; k < trace.size(); ++k)
      EXPECT_EQ(t.crc[k], qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(trace[k].data()),
                                         static_cast<uint32_t>(trace[k].size())))
          << target << " image " << s << " layer " << k << " (" << model::op_name(m.layers[k].op) << ")";
  }
}

}  // namespace

TEST(FirmwareBuild, QemuRv32RunsThePoolingMcuKernelsBitExact) { expect_pool_bit_exact_on("qemu-rv32"); }

TEST(FirmwareBuild, QemuXtensaRunsThePoolingMcuKernelsBitExact) { expect_pool_bit_exact_on("qemu-xtensa"); }
