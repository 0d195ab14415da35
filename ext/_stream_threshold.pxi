# Included by every compiled module (_common.pxi, runtime.pyx, capi.pyx).  The
# streamed-store threshold and the 4K-aliasing walk live in each module's own copy of
# the C core (every module links it statically): gradkit.set_stream_threshold and
# gradkit._config.set_alias_walk set them in every module through these functions.
from _cgradkit cimport gk_set_stream_min_bytes as _gk_set_stream_min_bytes


def _set_stream_min_bytes(size_t size):
    """this module's copy of the streamed-store threshold (gradkit.set_stream_threshold)"""
    _gk_set_stream_min_bytes(size)


from _cgradkit cimport gk_set_alias_walk as _gk_set_alias_walk
from _cgradkit cimport gk_get_alias_walk as _gk_get_alias_walk


def _set_alias_walk(int walk):
    """this module's copy of the 4K-aliasing walk (gradkit._config.set_alias_walk)"""
    _gk_set_alias_walk(walk)


def _get_alias_walk():
    """this module's 4K-aliasing walk: 1 backwards under aliasing, 0 never"""
    return _gk_get_alias_walk()
