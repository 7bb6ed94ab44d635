"""The interpreter ABI: struct layouts, constants and exported symbols of the running CPython.

A new CPython minor version means a new module beside ``cpython311`` chosen here, not edits elsewhere.
"""
import sys

if sys.version_info[:2] == (3, 11):
    from .cpython311 import *  # noqa: F401,F403
    from .cpython311 import SUPPORTED, check_live  # noqa: F401
else:  # pragma: no cover - guarded by pyjion/__init__.py
    raise ImportError("pyjion supports CPython 3.11 only")
