/* Public entry points of the losses family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "losses_kernels.h"

GK_DEFINE_TABLE_GETTER(losses)

static int gk_check_reduction(int r)
{
    return r == GK_REDUCTION_NONE || r == GK_REDUCTION_MEAN || r == GK_REDUCTION_SUM;
}

/* softmax cross-entropy; TS: the logits' storage, T: weight and row losses */
#define GK_DEFINE_XENT(TS, T, SFX) \
int gk_softmax_cross_entropy_weighted_##SFX(const TS *logits, const int64_t *labels, \
                                            const TS *probs, const T *weight, T *row_loss, \
                                            double *total, TS *dlogits, gk_index rows, \
                                            gk_index cols, double label_smoothing, \
                                            int64_t ignore_index, int reduction) \
{ \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK(rows == 0 || cols > 0, GK_ESIZE, cols);  /* no class to pick */ \
    GK_CHECK_VALUE(gk_check_reduction(reduction), reduction); \
    GK_CHECK_VALUE(label_smoothing >= 0.0 && label_smoothing <= 1.0, label_smoothing); \
    /* exactly one of labels and probs */ \
    GK_CHECK_PTR_IF(probs == NULL, labels); \
    GK_CHECK(labels == NULL || probs == NULL, GK_EVALUE, probs); \
    GK_CHECK_PTR_IF(rows > 0, logits); \
    GK_CHECK_PTR_IF(rows > 0, dlogits); \
    if (labels) \
        for (gk_index i = 0; i < rows; ++i) \
            GK_CHECK_VALUE(labels[i] == ignore_index || (labels[i] >= 0 && labels[i] < cols), \
                           labels); \
    return losses_table()->softmax_xent_##SFX(logits, labels, probs, weight, row_loss, \
                                              total, dlogits, rows, cols, \
                                              label_smoothing, ignore_index, reduction); \
} \
int gk_softmax_cross_entropy_##SFX(const TS *logits, const int64_t *labels, \
                                   const TS *probs, T *row_loss, double *total, \
                                   TS *dlogits, gk_index rows, gk_index cols, \
                                   double label_smoothing, int64_t ignore_index, \
                                   int reduction) \
{ \
    return gk_softmax_cross_entropy_weighted_##SFX(logits, labels, probs, NULL, row_loss, \
                                                   total, dlogits, rows, cols, \
                                                   label_smoothing, ignore_index, \
                                                   reduction); \
}

#define GK_DEFINE_LOSSES(T, SFX) \
GK_DEFINE_XENT(T, T, SFX) \
int gk_kl_div_##SFX(const T *student, const T *teacher, double *total, T *dstudent, \
                    gk_index rows, gk_index cols, double temperature) \
{ \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK(rows == 0 || cols > 0, GK_ESIZE, cols); \
    GK_CHECK_VALUE(temperature > 0.0 && temperature < 1.0 / 0.0, temperature); \
    GK_CHECK_PTR_IF(rows > 0, student); \
    GK_CHECK_PTR_IF(rows > 0, teacher); \
    GK_CHECK_PTR_IF(rows > 0, dstudent); \
    return losses_table()->kl_div_##SFX(student, teacher, total, dstudent, rows, cols, \
                                        temperature); \
} \
int gk_kl_div_pointwise_##SFX(const T *input, const T *target, T *elem_loss, \
                               double *total, T *dinput, gk_index n, gk_index batch, \
                               int log_target, int reduction) \
{ \
    GK_CHECK_SIZE(n); \
    GK_CHECK_SIZE(batch); \
    GK_CHECK_VALUE(gk_check_reduction(reduction) || reduction == GK_REDUCTION_BATCHMEAN, \
                   reduction); \
    GK_CHECK_PTR_IF(n > 0, input); \
    GK_CHECK_PTR_IF(n > 0, target); \
    GK_CHECK_PTR_IF(n > 0, dinput); \
    return losses_table()->kl_pointwise_##SFX(input, target, elem_loss, total, dinput, n, \
                                              batch, log_target != 0, reduction); \
} \
int gk_mse_##SFX(const T *pred, const T *target, T *elem_loss, double *total, T *dpred, \
                 gk_index n, int reduction) \
{ \
    GK_CHECK_SIZE(n); \
    GK_CHECK_VALUE(gk_check_reduction(reduction), reduction); \
    GK_CHECK_PTR_IF(n > 0, pred); \
    GK_CHECK_PTR_IF(n > 0, target); \
    GK_CHECK_PTR_IF(n > 0, dpred); \
    return losses_table()->mse_##SFX(pred, target, elem_loss, total, dpred, n, reduction); \
}

GK_DEFINE_LOSSES(float, f32)
GK_DEFINE_LOSSES(double, f64)
GK_DEFINE_XENT(uint16_t, float, f16)
GK_DEFINE_XENT(uint16_t, float, bf16)
