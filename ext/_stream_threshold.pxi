# Included by every compiled module (_common.pxi, runtime.pyx, capi.pyx).  The
# streamed-store threshold and the aliasing avoidance live in each module's own copy of
# the C core (every module links it statically): gradkit.set_stream_threshold and
# gradkit._config.set_alias_avoidance set them in every module through these functions.
from _cgradkit cimport gk_set_stream_min_bytes as _gk_set_stream_min_bytes


def _set_stream_min_bytes(size_t size):
    """this module's copy of the streamed-store threshold (gradkit.set_stream_threshold)"""
    _gk_set_stream_min_bytes(size)


from _cgradkit cimport gk_set_alias_avoidance as _gk_set_alias_avoidance
from _cgradkit cimport gk_get_alias_avoidance as _gk_get_alias_avoidance


def _set_alias_avoidance(int value):
    """this module's copy of the aliasing avoidance (gradkit._config.set_alias_avoidance)"""
    _gk_set_alias_avoidance(value)


def _get_alias_avoidance():
    """this module's aliasing avoidance: 1 on, 0 off"""
    return _gk_get_alias_avoidance()
