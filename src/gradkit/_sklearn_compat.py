"""scikit-learn compatibility without a scikit-learn dependency.

When scikit-learn is importable, gradkit's estimators derive from its
``TransformerMixin`` and ``BaseEstimator`` (so ``clone``, ``Pipeline``, ``set_output``,
tags and ``check_estimator`` see ordinary estimators) and raise its ``NotFittedError``.
Without it, small stand-ins give the same ``get_params`` / ``set_params`` / ``repr``
behaviour and a ``NotFittedError`` that is both a ValueError and an AttributeError, as
scikit-learn's is.
"""
import inspect

try:  # optional: only used when installed
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.exceptions import NotFittedError
    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        """Raised when a method that needs a fitted estimator is called before fit."""

    class TransformerMixin:
        """Stand-in for sklearn.base.TransformerMixin (gradkit defines fit_transform)."""

    class BaseEstimator:
        """Stand-in for sklearn.base.BaseEstimator: parameters are the keyword
        arguments of ``__init__``, stored unchanged as attributes of the same name."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind not in (p.VAR_POSITIONAL,
                                                                 p.VAR_KEYWORD))

        def get_params(self, deep=True):
            """The estimator's parameters as a dict (``deep`` is accepted for
            compatibility; gradkit's estimators hold no sub-estimators)."""
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            """Set parameters by name; returns self."""
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(f"Invalid parameter {name!r} for estimator {self}. "
                                     f"Valid parameters are: {valid!r}.")
                setattr(self, name, value)
            return self

        def __repr__(self):
            sig = inspect.signature(type(self).__init__)
            shown = []
            for name, value in self.get_params().items():
                default = sig.parameters[name].default
                if not (value is default or (type(value) is type(default)
                                             and value == default)):
                    shown.append(f"{name}={value!r}")
            return f"{type(self).__name__}({', '.join(shown)})"

__all__ = ["HAVE_SKLEARN", "BaseEstimator", "TransformerMixin", "NotFittedError"]
