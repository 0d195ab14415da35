# Included by every compiled module (_common.pxi, runtime.pyx, capi.pyx).  The
# streamed-store threshold lives in each module's own copy of the C core (every module
# links it statically): gradkit.set_stream_threshold sets it in every module through
# this function.
from _cgradkit cimport gk_set_stream_min_bytes as _gk_set_stream_min_bytes


def _set_stream_min_bytes(size_t size):
    """this module's copy of the streamed-store threshold (gradkit.set_stream_threshold)"""
    _gk_set_stream_min_bytes(size)
