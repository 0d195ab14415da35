/* The optim family's per-ISA table (see kernels.h). */
#ifndef GK_OPTIM_KERNELS_H
#define GK_OPTIM_KERNELS_H
#include "gradkit/optim.h"

#define GK_OPTIM_SIGS(T, SFX) \
    int (*sgd_##SFX)(gk_index count, T *const *param, const T *const *grad, T *const *buf, \
                     const unsigned char *fresh, const gk_index *size, \
                     const gk_sgd_options *o); \
    int (*adam_##SFX)(gk_index count, T *const *param, const T *const *grad, T *const *m, \
                      T *const *v, T *const *vmax, const gk_index *size, \
                      const int64_t *step, const gk_adam_options *o); \
    int (*rmsprop_##SFX)(gk_index count, T *const *param, const T *const *grad, \
                         T *const *sq, T *const *ga, T *const *buf, const gk_index *size, \
                         const gk_rmsprop_options *o); \
    int (*adagrad_##SFX)(gk_index count, T *const *param, const T *const *grad, \
                         T *const *sum, const gk_index *size, const int64_t *step, \
                         const gk_adagrad_options *o); \
    int (*lars_##SFX)(gk_index count, T *const *param, const T *const *grad, \
                      T *const *trace, const gk_index *size, const gk_lars_options *o, \
                      double *ratio); \
    int (*nadam_##SFX)(gk_index count, T *const *param, const T *const *grad, T *const *m, \
                       T *const *v, float *mu_product, const gk_index *size, \
                       const int64_t *step, const gk_nadam_options *o); \
    int (*radam_##SFX)(gk_index count, T *const *param, const T *const *grad, T *const *m, \
                       T *const *v, const gk_index *size, const int64_t *step, \
                       const gk_radam_options *o); \
    int (*adamax_##SFX)(gk_index count, T *const *param, const T *const *grad, T *const *m, \
                        T *const *u, const gk_index *size, const int64_t *step, \
                        const gk_adamax_options *o); \
    int (*adadelta_##SFX)(gk_index count, T *const *param, const T *const *grad, \
                          T *const *sq, T *const *acc, const gk_index *size, \
                          const gk_adadelta_options *o); \
    int (*lion_##SFX)(gk_index count, T *const *param, const T *const *grad, T *const *m, \
                      const gk_index *size, const gk_lion_options *o); \
    int (*lamb_##SFX)(gk_index count, T *const *param, const T *const *grad, T *const *m, \
                      T *const *v, const gk_index *size, const int64_t *step, \
                      const gk_lamb_options *o, double *ratio, T *work); \
    int (*adafactor_##SFX)(gk_index count, T *const *param, const T *const *grad, \
                           T *const *row_var, T *const *col_var, T *const *variance, \
                           const gk_index *size, const gk_index *rows, \
                           const gk_index *cols, const int64_t *step, \
                           const gk_adafactor_options *o, T *work);

typedef struct {
    GK_OPTIM_SIGS(float, f32)
    GK_OPTIM_SIGS(double, f64)
} gk_optim_table;

/* the staged float32 steps of the mixed-precision entry points (optim_half.c): the
 * arrays are float32, float16 or bfloat16 per list (gk_optim_storage) */
#define GK_OPTIM_MP_ST , const gk_optim_storage *st
typedef struct {
    int (*grads_nonfinite)(gk_index count, const void *const *grad, const gk_index *size,
                           int dtype, int *found);
    int (*sgd)(gk_index count, float *const *param, const float *const *grad,
               float *const *buf, const unsigned char *fresh, const gk_index *size,
               const gk_sgd_options *o GK_OPTIM_MP_ST);
    int (*adam)(gk_index count, float *const *param, const float *const *grad,
                float *const *m, float *const *v, float *const *vmax, const gk_index *size,
                const int64_t *step, const gk_adam_options *o GK_OPTIM_MP_ST);
    int (*rmsprop)(gk_index count, float *const *param, const float *const *grad,
                   float *const *sq, float *const *ga, float *const *buf,
                   const gk_index *size, const gk_rmsprop_options *o GK_OPTIM_MP_ST);
    int (*adagrad)(gk_index count, float *const *param, const float *const *grad,
                   float *const *sum, const gk_index *size, const int64_t *step,
                   const gk_adagrad_options *o GK_OPTIM_MP_ST);
    int (*lars)(gk_index count, float *const *param, const float *const *grad,
                float *const *trace, const gk_index *size, const gk_lars_options *o,
                double *ratio GK_OPTIM_MP_ST);
    int (*nadam)(gk_index count, float *const *param, const float *const *grad,
                 float *const *m, float *const *v, float *mu_product, const gk_index *size,
                 const int64_t *step, const gk_nadam_options *o GK_OPTIM_MP_ST);
    int (*radam)(gk_index count, float *const *param, const float *const *grad,
                 float *const *m, float *const *v, const gk_index *size,
                 const int64_t *step, const gk_radam_options *o GK_OPTIM_MP_ST);
    int (*adamax)(gk_index count, float *const *param, const float *const *grad,
                  float *const *m, float *const *u, const gk_index *size,
                  const int64_t *step, const gk_adamax_options *o GK_OPTIM_MP_ST);
    int (*adadelta)(gk_index count, float *const *param, const float *const *grad,
                    float *const *sq, float *const *acc, const gk_index *size,
                    const gk_adadelta_options *o GK_OPTIM_MP_ST);
    int (*lion)(gk_index count, float *const *param, const float *const *grad,
                float *const *m, const gk_index *size, const gk_lion_options *o GK_OPTIM_MP_ST);
    int (*lamb)(gk_index count, float *const *param, const float *const *grad,
                float *const *m, float *const *v, const gk_index *size,
                const int64_t *step, const gk_lamb_options *o, double *ratio GK_OPTIM_MP_ST,
                float *work);
    int (*adafactor)(gk_index count, float *const *param, const float *const *grad,
                     float *const *row_var, float *const *col_var, float *const *variance,
                     const gk_index *size, const gk_index *rows, const gk_index *cols,
                     const int64_t *step, const gk_adafactor_options *o GK_OPTIM_MP_ST,
                     float *work);
} gk_optim_half_table;
#undef GK_OPTIM_MP_ST

#endif
