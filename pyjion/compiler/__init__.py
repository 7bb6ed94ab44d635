"""Bytecode to machine code: see :func:`driver.compile_code` for the pipeline."""
from .driver import CompileFailure, compile_code

__all__ = ["CompileFailure", "compile_code"]
