# The BLAS scipy links (Fortran interface), handed to the C kernels as pointers in one
# gk_blas_fns (the modules whose kernels call BLAS include this once: preprocessing,
# quant, random, linear).  They are assigned to gradkit's pointer types WITHOUT a cast:
# if scipy declared another integer type than gk_blas_int (an ILP64 build), the module
# would fail to compile instead of passing 32-bit sizes to a BLAS that reads 64-bit ones.
from scipy.linalg.cython_blas cimport dgemm as _dgemm, dsyrk as _dsyrk
from scipy.linalg.cython_blas cimport sgemm as _sgemm, ssyrk as _ssyrk
from _cgradkit cimport gk_blas_fns as _gk_blas_fns

cdef _gk_blas_fns _BLAS
_BLAS.ssyrk = _ssyrk
_BLAS.dsyrk = _dsyrk
_BLAS.sgemm = _sgemm
_BLAS.dgemm = _dgemm
