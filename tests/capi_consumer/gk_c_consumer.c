/* A downstream C extension that calls gradkit's kernels: it fetches the function
 * pointers from the capsules of gradkit.capi (gradkit ships no C library to link) and
 * takes the types, the status codes and their decoding (gk_error_kind, gk_error_arg,
 * gk_arg_name) from gradkit/gradkit.h (gradkit.get_include()). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "gradkit/gradkit.h"

typedef int (*layer_norm_f32_fn)(const float *x, const float *weight, const float *bias,
                                 float *y, float *mean, float *rstd, Py_ssize_t rows,
                                 Py_ssize_t cols, double eps);
typedef int (*rms_norm_f64_fn)(const double *x, const double *weight, double *y,
                               double *rstd, Py_ssize_t rows, Py_ssize_t cols, double eps);
static layer_norm_f32_fn layer_norm_f32;
static rms_norm_f64_fn rms_norm_f64;

/* gradkit.capi.__pyx_capi__[name]; the capsule's name is the C signature as Cython
 * writes it, and PyCapsule_GetPointer checks it. */
static void *gk_capi_function(const char *name, const char *signature)
{
    void *fn = NULL;
    PyObject *mod = PyImport_ImportModule("gradkit.capi");
    PyObject *table = mod ? PyObject_GetAttrString(mod, "__pyx_capi__") : NULL;
    PyObject *capsule = table ? PyDict_GetItemString(table, name) : NULL;
    if (capsule)
        fn = PyCapsule_GetPointer(capsule, signature);
    else if (table)
        PyErr_Format(PyExc_ImportError, "gradkit.capi has no %s", name);
    Py_XDECREF(table);
    Py_XDECREF(mod);
    return fn;
}

/* layer_norm_f32(x, y, mean, rstd, rows, cols, eps) -> status; buffers of float32,
 * no affine parameters */
static PyObject *py_layer_norm_f32(PyObject *self, PyObject *args)
{
    Py_buffer x, y, mean, rstd;
    Py_ssize_t rows, cols;
    double eps;
    int rc;
    if (!PyArg_ParseTuple(args, "y*w*w*w*nnd", &x, &y, &mean, &rstd, &rows, &cols, &eps))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = layer_norm_f32(x.buf, NULL, NULL, y.buf, mean.buf, rstd.buf, rows, cols, eps);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    PyBuffer_Release(&mean);
    PyBuffer_Release(&rstd);
    return PyLong_FromLong(rc);
}

/* rms_norm_f64(x, weight, y, rstd, rows, cols, eps) -> status; buffers of float64 */
static PyObject *py_rms_norm_f64(PyObject *self, PyObject *args)
{
    Py_buffer x, w, y, rstd;
    Py_ssize_t rows, cols;
    double eps;
    int rc;
    if (!PyArg_ParseTuple(args, "y*y*w*w*nnd", &x, &w, &y, &rstd, &rows, &cols, &eps))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = rms_norm_f64(x.buf, w.buf, y.buf, rstd.buf, rows, cols, eps);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&w);
    PyBuffer_Release(&y);
    PyBuffer_Release(&rstd);
    return PyLong_FromLong(rc);
}

/* explain(status) -> (kind, argument name): what is wrong, and with which argument */
static PyObject *py_explain(PyObject *self, PyObject *args)
{
    int status;
    if (!PyArg_ParseTuple(args, "i", &status))
        return NULL;
    return Py_BuildValue("(is)", gk_error_kind(status), gk_arg_name(gk_error_arg(status)));
}

static PyMethodDef methods[] = {
    {"explain", py_explain, METH_VARARGS, NULL},
    {"layer_norm_f32", py_layer_norm_f32, METH_VARARGS, NULL},
    {"rms_norm_f64", py_rms_norm_f64, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "gk_c_consumer", NULL, -1,
                                    methods};

PyMODINIT_FUNC PyInit_gk_c_consumer(void)
{
    PyObject *m;
    layer_norm_f32 = (layer_norm_f32_fn)gk_capi_function("gk_layer_norm_f32",
        "int (float const *, float const *, float const *, float *, float *, float *, "
        "Py_ssize_t, Py_ssize_t, double)");
    if (!layer_norm_f32)
        return NULL;
    rms_norm_f64 = (rms_norm_f64_fn)gk_capi_function("gk_rms_norm_f64",
        "int (double const *, double const *, double *, double *, Py_ssize_t, Py_ssize_t, "
        "double)");
    if (!rms_norm_f64)
        return NULL;
    m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "OK", GK_OK) < 0 ||
              PyModule_AddIntConstant(m, "ESIZE", GK_ESIZE) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
