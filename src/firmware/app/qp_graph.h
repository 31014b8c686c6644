/* The model-independent part of a generated model package: the node descriptor the generator fills
 * (one per INT8 layer, in topological order) and the loop that runs them over the static arena
 * (qp_graph.c). The generated qp_model.c holds only data: weights, requantization parameters, the
 * descriptor table and the arena plan. C99, integer-only, no heap.
 *
 *   static const qp_conv_params_t qp_l0_params = {128, -128, 1, 1, 1, -128, 127};
 *   const qp_node_t qp_model_nodes[QP_MODEL_LAYERS] = {
 *     {QP_NODE_CONV_MCU, {3072u, 0u}, 20480u, 0u, {1, 32, 32, 3}, {16, 3, 3, 3}, {1, 32, 32, 16},
 *      qp_l0_weight, qp_l0_bias, qp_l0_multiplier, qp_l0_shift, &qp_l0_params}, ...};
 */
#ifndef QP_GRAPH_H
#define QP_GRAPH_H

#include <stdint.h>

#include "qp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a node computes, and with which kernel variant. */
enum {
  QP_NODE_CONV = 1,       /* qp_conv_run_s8 (reference) */
  QP_NODE_CONV_MCU,       /* qp_conv_run_mcu_s8: packed weights, scratch (optional) */
  QP_NODE_CONV_WINO,      /* qp_conv_run_wino_s8: int16 Winograd filters, scratch */
  QP_NODE_DWCONV,         /* qp_dwconv_run_s8 */
  QP_NODE_FC,             /* qp_fc_run_s8 (reference) */
  QP_NODE_FC_MCU,         /* qp_fc_run_mcu_s8: packed weights */
  QP_NODE_MAX_POOL,       /* qp_pool_max_s8 */
  QP_NODE_AVG_POOL,       /* qp_pool_avg_s8 */
  QP_NODE_GLOBAL_AVG_POOL, /* qp_pool_global_avg_s8 (-128..127) */
  QP_NODE_SOFTMAX,        /* qp_softmax_run_s8 */
  QP_NODE_ADD,            /* qp_add_run_s8 */
  QP_NODE_CONCAT,         /* qp_concat_run_s8 */
  QP_NODE_RESHAPE,        /* Flatten: NHWC data is already in flattened order (output aliases input) */
  QP_NODE_DWCONV_MCU,     /* qp_dwconv_run_mcu_s8: packed int16 weights (channel multiplier 1) */
  QP_NODE_ADD_MCU,        /* qp_add_run_mcu_s8: weight = the int32 table of qp_add_table_mcu_s8 */
  QP_NODE_MAX_POOL_MCU,   /* qp_pool_max_mcu_s8 */
  QP_NODE_AVG_POOL_MCU,   /* qp_pool_avg_mcu_s8 */
  QP_NODE_GLOBAL_AVG_POOL_MCU /* qp_pool_global_avg_mcu_s8 (-128..127) */
};

/* The ops of TFLite/PyTorch models (numbered apart from the kernel variants above). */
enum {
  QP_NODE_PAD = 32, /* qp_pad_s8: params qp_pad_node_params_t */
  QP_NODE_MEAN = 33,    /* qp_mean_s8: params qp_mean_params_t */
  QP_NODE_MEAN_MCU = 34 /* qp_mean_mcu_s8: params qp_mean_params_t */
};

/* scratch value of a node whose kernel needs none */
#define QP_NODE_NO_SCRATCH 0xFFFFFFFFu

/* Parameters of a fully connected node (in/out features come from the node's dims). */
typedef struct {
  int32_t input_offset; /* -input zero point (reference kernel only: the MCU kernel has it in its bias) */
  int32_t output_offset, act_min, act_max;
} qp_fc_node_params_t;

/* Parameters of a pad node: padding before the first row/column (bottom/right follow from the dims) and the
 * value of every padded position (the zero point). */
typedef struct {
  int32_t pad_top, pad_left, value;
} qp_pad_node_params_t;

/* Parameters of a concat node: its parts point into the arena. */
typedef struct {
  int32_t count;
  const qp_concat_input_t *parts;
  int32_t output_offset;
} qp_concat_node_params_t;

typedef struct {
  uint8_t op;                   /* QP_NODE_* */
  uint32_t input[2];            /* arena offsets of the inputs (the second: Add only) */
  uint32_t output;              /* arena offset of the output */
  uint32_t scratch;             /* arena offset of the kernel's scratch (CONV_MCU, CONV_WINO), or QP_NODE_NO_SCRATCH */
  qp_dims_t in, filter, out;    /* NHWC input/output, filter dims as the kernel takes them */
  const void *weight;           /* int8 (int16 for CONV_WINO, DWCONV_MCU; int32 table for ADD_MCU); NULL when none */
  const int32_t *bias, *multiplier, *shift;
  const void *params;           /* qp_conv_params_t, qp_fc_node_params_t, qp_pool_params_t, qp_softmax_params_t,
                                   qp_add_params_t, qp_concat_node_params_t, qp_pad_node_params_t or
                                   qp_mean_params_t */
} qp_node_t;

/* Runs one node over arena. */
qp_status_t qp_graph_run_node(const qp_node_t *n, int8_t *arena);

/* ---- the model's entry points, over the generated package's qp_model_nodes and qp_model_arena ---- */

/* Called after each layer with its output (NHWC int8). */
typedef void (*qp_model_hook_t)(int32_t layer, const int8_t *output, uint32_t bytes, void *ctx);

/* Runs layers 0..last_layer on rgb (H*W*C bytes, HWC, raw pixels, through qp_model_input_table); *output points at the last one's
 * output inside the arena (valid until the next run). hook may be NULL. rgb NULL: the input tensor already holds the image
 * (every byte put there by qp_model_stage since the last run: a run reuses the arena). */
qp_status_t qp_model_run(const uint8_t *rgb, int32_t last_layer, qp_model_hook_t hook, void *ctx, const int8_t **output);

/* Maps pixels[0..count) (bytes offset.. of the H*W*C image) into the arena's input tensor through qp_model_input_table;
 * the caller keeps offset + count <= QP_MODEL_INPUT_BYTES. */
void qp_model_stage(uint32_t offset, const uint8_t *pixels, uint32_t count);

/* The whole model: scores[QP_MODEL_CLASSES] is the int8 softmax output; confidence = (q + 128) / 256. */
qp_status_t qp_model_invoke(const uint8_t *rgb, int8_t *scores);

#ifdef __cplusplus
}
#endif

#endif /* QP_GRAPH_H */
