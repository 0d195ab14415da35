/* Optimizer update kernels (SGD, Adam/AdamW/AMSGrad, RMSprop, Adagrad, LARS; NAdam,
 * RAdam, Adamax, Adadelta, Lion, LAMB in optim_more_tmpl.h; Adafactor in
 * adafactor_tmpl.h), compiled once per ISA.  One pass over memory per step, one parallel region per list of arrays
 * (multi.h). */
#include "multi.h"
#include "optim_kernels.h"

#define GK_TMPL_A "optim_tmpl.h"
#define GK_TMPL_B "optim_more_tmpl.h"
#define GK_TMPL_C "adafactor_tmpl.h"
#include "gk_each_dtype.h"

#define GK_OPTIM_ENTRIES(SFX) \
    GK_ENTRY(sgd, sgd_multi, SFX) GK_ENTRY(adam, adam_multi, SFX) \
    GK_ENTRY(rmsprop, rmsprop_multi, SFX) GK_ENTRY(adagrad, adagrad_multi, SFX) \
    GK_ENTRY(lars, lars_multi, SFX) GK_ENTRY(nadam, nadam_multi, SFX) \
    GK_ENTRY(radam, radam_multi, SFX) GK_ENTRY(adamax, adamax_multi, SFX) \
    GK_ENTRY(adadelta, adadelta_multi, SFX) GK_ENTRY(lion, lion_multi, SFX) \
    GK_ENTRY(lamb, lamb_multi, SFX) GK_ENTRY(adafactor, adafactor_multi, SFX)
GK_DEFINE_ISA_TABLE(optim, GK_OPTIM_ENTRIES, );
