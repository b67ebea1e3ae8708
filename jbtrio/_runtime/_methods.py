"""A function of a class's instance, kept in a module of its own, as a method of that class:
:func:`as_method`.

The runtime keeps some per-message functions of interpreted classes (the call session's
parts, the socket's ``send_nowait``) in modules that the compiled build compiles (issue 23);
a compiled function is a builtin, which does not bind as a method, so it is bound here with
C-level pieces only, and a call through it runs no Python code of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import FunctionType, MethodType
from typing import Any, TypeVar

__all__ = ["as_method"]

_F = TypeVar("_F", bound=Callable[..., Any])


def as_method(function: _F) -> _F:
    """``function`` (its first argument is the instance) as a method of the class whose body
    assigns it. Interpreted, it is the function itself."""
    if isinstance(function, FunctionType):
        return function
    return property(partial(MethodType, function))  # type: ignore[return-value]
