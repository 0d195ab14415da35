"""The compiled kernel modules (built from ext/ in the source tree)."""
