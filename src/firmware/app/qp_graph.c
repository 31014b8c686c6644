/* The layer loop of a generated model package (see qp_graph.h and the generated qp_model.h). */
#include "qp_graph.h"

#include <string.h>

#include "qp_model.h"
#include "qp_runtime_mcu.h"

qp_status_t qp_graph_run_node(const qp_node_t *n, int8_t *arena) {
  const int8_t *in = arena + n->input[0];
  int8_t *out = arena + n->output;
  int8_t *scratch = n->scratch == QP_NODE_NO_SCRATCH ? 0 : arena + n->scratch;
  switch (n->op) {
    case QP_NODE_CONV:
      return qp_conv_run_s8((const qp_conv_params_t *)n->params, n->multiplier, n->shift, &n->in, in, &n->filter,
                            (const int8_t *)n->weight, n->bias, &n->out, out);
    case QP_NODE_CONV_MCU:
      return qp_conv_run_mcu_s8((const qp_conv_params_t *)n->params, n->multiplier, n->shift, &n->in, in, &n->filter,
                                (const int8_t *)n->weight, n->bias, &n->out, out, scratch);
    case QP_NODE_CONV_WINO:
      return qp_conv_run_wino_s8((const qp_conv_params_t *)n->params, n->multiplier, n->shift, &n->in, in, &n->filter,
                                 (const int16_t *)n->weight, n->bias, &n->out, out, scratch);
    case QP_NODE_DWCONV:
      return qp_dwconv_run_s8((const qp_conv_params_t *)n->params, n->multiplier, n->shift, &n->in, in, &n->filter,
                              (const int8_t *)n->weight, n->bias, &n->out, out);
    case QP_NODE_DWCONV_MCU:
      return qp_dwconv_run_mcu_s8((const qp_conv_params_t *)n->params, n->multiplier, n->shift, &n->in, in, &n->filter,
                                  (const int16_t *)n->weight, n->bias, &n->out, out);
    case QP_NODE_FC: {
      const qp_fc_node_params_t *p = (const qp_fc_node_params_t *)n->params;
      return qp_fc_run_s8(p->input_offset, p->output_offset, p->act_min, p->act_max, n->multiplier, n->shift, n->in.c, n->out.c,
                          in, (const int8_t *)n->weight, n->bias, out);
    }
    case QP_NODE_FC_MCU: {
      const qp_fc_node_params_t *p = (const qp_fc_node_params_t *)n->params;
      return qp_fc_run_mcu_s8(p->output_offset, p->act_min, p->act_max, n->multiplier, n->shift, n->in.c, n->out.c, in,
                              (const int8_t *)n->weight, n->bias, out);
    }
    case QP_NODE_MAX_POOL: return qp_pool_max_s8((const qp_pool_params_t *)n->params, &n->in, in, &n->out, out);
    case QP_NODE_AVG_POOL: return qp_pool_avg_s8((const qp_pool_params_t *)n->params, &n->in, in, &n->out, out);
    case QP_NODE_GLOBAL_AVG_POOL: return qp_pool_global_avg_s8(-128, 127, &n->in, in, out);
    case QP_NODE_MAX_POOL_MCU: return qp_pool_max_mcu_s8((const qp_pool_params_t *)n->params, &n->in, in, &n->out, out);
    case QP_NODE_AVG_POOL_MCU: return qp_pool_avg_mcu_s8((const qp_pool_params_t *)n->params, &n->in, in, &n->out, out);
    case QP_NODE_GLOBAL_AVG_POOL_MCU: return qp_pool_global_avg_mcu_s8(-128, 127, &n->in, in, out);
    case QP_NODE_SOFTMAX: return qp_softmax_run_s8((const qp_softmax_params_t *)n->params, n->out.c, in, out);
    case QP_NODE_ADD:
      return qp_add_run_s8((const qp_add_params_t *)n->params, n->out.h * n->out.w * n->out.c, in, arena + n->input[1], out);
    case QP_NODE_ADD_MCU:
      return qp_add_run_mcu_s8((const qp_add_params_t *)n->params, (const int32_t *)n->weight, n->out.h * n->out.w * n->out.c, in,
                               arena + n->input[1], out);
    case QP_NODE_CONCAT: {
      const qp_concat_node_params_t *p = (const qp_concat_node_params_t *)n->params;
      return qp_concat_run_s8(p->count, p->parts, n->out.h * n->out.w, p->output_offset, out);
    }
    case QP_NODE_PAD: {
      const qp_pad_node_params_t *p = (const qp_pad_node_params_t *)n->params;
      return qp_pad_s8(p->pad_top, p->pad_left, (int8_t)p->value, &n->in, in, &n->out, out);
    }
    case QP_NODE_MEAN: return qp_mean_s8((const qp_mean_params_t *)n->params, &n->in, in, out);
    case QP_NODE_MEAN_MCU: return qp_mean_mcu_s8((const qp_mean_params_t *)n->params, &n->in, in, out);
    case QP_NODE_RESHAPE: return QP_STATUS_OK;
    default: return QP_STATUS_BAD_ARGUMENT;
  }
}

qp_status_t qp_model_run(const uint8_t *rgb, int32_t last_layer, qp_model_hook_t hook, void *ctx, const int8_t **output) {
  int32_t i, c = 0;
  int8_t *x = qp_model_arena + QP_MODEL_INPUT_OFFSET;
  if (last_layer < 0 || last_layer >= QP_MODEL_LAYERS) return QP_STATUS_BAD_ARGUMENT;
  /* input: each raw pixel byte (HWC) through its channel's table (the model's input convention; q = p - 128 for
   * qparity's own models); rgb NULL: the caller has already put the int8 input there (qp_model_stage) */
  for (i = 0; rgb != 0 && i < QP_MODEL_INPUT_BYTES; ++i) {
    x[i] = qp_model_input_table[c][rgb[i]];
    if (++c == QP_MODEL_INPUT_C) c = 0;
  }
  for (i = 0; i <= last_layer; ++i) {
    int8_t *out = qp_model_arena + qp_model_nodes[i].output;
    const qp_status_t s = qp_graph_run_node(&qp_model_nodes[i], qp_model_arena);
    if (s != QP_STATUS_OK) return s;
#ifdef QP_FAULT_LAYER /* test builds only: perturb one layer's output so triage can be checked */
    if (i == QP_FAULT_LAYER) out[0] = (int8_t)(out[0] ^ 0x10);
#endif
    if (hook != 0) hook(i, out, qp_model_layer_bytes[i], ctx);
  }
  if (output != 0) *output = qp_model_arena + qp_model_nodes[last_layer].output;
  return QP_STATUS_OK;
}

qp_status_t qp_model_invoke(const uint8_t *rgb, int8_t *scores) {
  const int8_t *out = 0;
  const qp_status_t s = qp_model_run(rgb, QP_MODEL_LAYERS - 1, 0, 0, &out);
  if (s != QP_STATUS_OK) return s;
  if (scores == 0) return QP_STATUS_BAD_ARGUMENT;
  memcpy(scores, out, QP_MODEL_CLASSES);
  return QP_STATUS_OK;
}

void qp_model_stage(uint32_t offset, const uint8_t *pixels, uint32_t count) {
  int8_t *x = qp_model_arena + QP_MODEL_INPUT_OFFSET + offset;
  uint32_t i, c = offset % (uint32_t)QP_MODEL_INPUT_C;
  for (i = 0; i < count; ++i) {
    x[i] = qp_model_input_table[c][pixels[i]];
    if (++c == (uint32_t)QP_MODEL_INPUT_C) c = 0;
  }
}
