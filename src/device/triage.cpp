// Device triage (see triage.h).
#include "device/triage.h"

#include "common/error.h"
#include "data/image_io.h"
#include "device/device_engine.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"

namespace qp::device {

struct DeviceTriage::State {
  TriageOptions o;
  quant::QModelFile mf;
  std::unique_ptr<quant::Int8Engine> host;  // the host's reference kernels
  std::vector<std::string> names;
  std::unique_ptr<DeviceEngine> device;  // connected on the first triaged image

  DeviceEngine &connect() {
    if (!device) {
      ConnectOptions co;
      co.port = o.port;
      co.firmware = o.firmware;
      co.baud = o.baud;
      co.workdir = o.workdir;
      co.index = 90;  // beside any instances of a device run
      co.icount = false;
      device = std::make_unique<DeviceEngine>(co, mf);
    }
    return *device;
  }
};

DeviceTriage::DeviceTriage(const TriageOptions &o) : s_(std::make_unique<State>()) {
  s_->o = o;
  s_->mf = quant::load_int8_model(o.model, o.input);
  s_->host = std::make_unique<quant::Int8Engine>(s_->mf.model, quant::Backend::Reference);
  s_->names = verify::trace_layer_names(s_->mf.model);
}

DeviceTriage::~DeviceTriage() = default;

verify::TriageResult DeviceTriage::triage_pixels(const std::vector<uint8_t> &rgb) {
  DeviceEngine &device = s_->connect();
  return verify::triage_engines(*s_->host, device, quant::EngineInput::from_pixels(rgb), s_->names);
}

verify::TriageResult DeviceTriage::operator()(const nlohmann::json &image) {
  const std::string file = image.at("file").get<std::string>();
  const auto &in = s_->mf.model.input;
  const data::Image img = data::prepare_input(data::decode_image(data::read_file_bytes(file), file), in.h, in.w, in.c, true);
  return triage_pixels(img.pixels);
}

}  // namespace qp::device
