/* Public entry points of the losses family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "kernels.h"
#include "losses_kernels.h"

GK_DEFINE_TABLE_GETTER(losses)

static int gk_check_reduction(int r)
{
    return r == GK_REDUCTION_NONE || r == GK_REDUCTION_MEAN || r == GK_REDUCTION_SUM;
}

#define GK_DEFINE_LOSSES(T, SFX) \
int gk_softmax_cross_entropy_##SFX(const T *logits, const int64_t *labels, const T *probs, \
                                   T *row_loss, double *total, T *dlogits, gk_index rows, \
                                   gk_index cols, double label_smoothing, \
                                   int64_t ignore_index, int reduction) \
{ \
    if (rows < 0 || cols < 0) return GK_ESIZE; \
    if (rows > 0 && cols == 0) return GK_ESIZE; \
    if (!gk_check_reduction(reduction)) return GK_EVALUE; \
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0)) return GK_EVALUE; \
    if ((labels == NULL) == (probs == NULL)) return GK_ENULL; \
    if (rows > 0 && (!logits || !dlogits)) return GK_ENULL; \
    if (labels) \
        for (gk_index i = 0; i < rows; ++i) \
            if (labels[i] != ignore_index && (labels[i] < 0 || labels[i] >= cols)) \
                return GK_EVALUE; \
    return losses_table()->softmax_xent_##SFX(logits, labels, probs, row_loss, total, \
                                              dlogits, rows, cols, label_smoothing, \
                                              ignore_index, reduction); \
} \
int gk_kl_div_##SFX(const T *student, const T *teacher, double *total, T *dstudent, \
                    gk_index rows, gk_index cols, double temperature) \
{ \
    if (rows < 0 || cols < 0) return GK_ESIZE; \
    if (rows > 0 && cols == 0) return GK_ESIZE; \
    if (!(temperature > 0.0) || temperature == 1.0 / 0.0) return GK_EVALUE; \
    if (rows > 0 && (!student || !teacher || !dstudent)) return GK_ENULL; \
    return losses_table()->kl_div_##SFX(student, teacher, total, dstudent, rows, cols, \
                                        temperature); \
} \
int gk_mse_##SFX(const T *pred, const T *target, T *elem_loss, double *total, T *dpred, \
                 gk_index n, int reduction) \
{ \
    if (n < 0) return GK_ESIZE; \
    if (!gk_check_reduction(reduction)) return GK_EVALUE; \
    if (n > 0 && (!pred || !target || !dpred)) return GK_ENULL; \
    return losses_table()->mse_##SFX(pred, target, elem_loss, total, dpred, n, reduction); \
}

GK_DEFINE_LOSSES(float, f32)
GK_DEFINE_LOSSES(double, f64)
