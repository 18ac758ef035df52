"""C++ kernel names as they were written: `_Z4axpyfPKfPfi` -> `axpy(float, float const*, float*, int)`.

NVRTC names a kernel that is not `extern "C"` by the Itanium C++ ABI, as GCC and Clang do.
None of the NVIDIA pip wheels smbench depends on carries a demangler (cu++filt comes in
nvidia-cuda-cuxxfilt, as a program and a static library, and binutils' c++filt is not on
every machine), so the C++ runtime already in the process is asked: `abi::__cxa_demangle`
from libstdc++ (NumPy's own extension links libstdc++.so.6 on Linux, so it is there wherever
smbench imports) or from libc++abi on macOS. Where neither loads, the mangled name stays and
`unavailable()` says why.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_LIBRARIES = ("libstdc++.so.6", "libc++abi.dylib", "libc++.1.dylib")


@functools.lru_cache(maxsize=1)
def _runtime() -> tuple[object, object, str]:
    """(__cxa_demangle, free, '') or (None, None, why not)."""
    tried = []
    for name in (*_LIBRARIES, ctypes.util.find_library("stdc++"), ctypes.util.find_library("c++abi")):
        if not name or name in tried:
            continue
        tried.append(name)
        try:
            library = ctypes.CDLL(name)
            function = library.__cxa_demangle
        except (OSError, AttributeError):
            continue
        function.restype = ctypes.c_void_p  # a malloc'd string, freed below
        function.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        try:
            free = ctypes.CDLL(None).free
        except (OSError, AttributeError):
            free = library.free
        free.argtypes = [ctypes.c_void_p]
        free.restype = None
        return function, free, ""
    return None, None, f"no C++ runtime with __cxa_demangle ({', '.join(tried)}): names are shown mangled"


def unavailable() -> str:
    """'' when names can be demangled here, else why not (for a note beside mangled names)."""
    return _runtime()[2]


@functools.lru_cache(maxsize=4096)
def demangle(symbol: str) -> str:
    """The symbol as C++ writes it; the symbol itself when it is not a mangled name (an
    extern "C" kernel) or nothing here can demangle it."""
    function, free, _ = _runtime()
    if function is None or not symbol.startswith("_Z"):
        return symbol
    status = ctypes.c_int(0)
    result = function(symbol.encode(), None, None, ctypes.byref(status))
    if not result:
        return symbol
    try:
        return ctypes.string_at(result).decode("utf-8", "replace") if status.value == 0 else symbol
    finally:
        free(result)


def short(symbol: str) -> str:
    """The demangled name without its parameter list (`axpy` for `axpy(float, ...)`), for a
    narrow terminal: the function and any template arguments, no types of parameters."""
    name = demangle(symbol)
    if name == symbol or not name.endswith(")"):
        return name
    depth = 0
    for index in range(len(name) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(name[index], 0)
        if depth == 0:
            return name[:index]
    return name


def kernel(symbol: str) -> str:
    """A kernel as a person names it: `axpy` for _Z4axpyfPKfPfi (short, without the 'void'
    every kernel returns); an extern "C" name as it is."""
    name = short(symbol)
    return name[len("void "):] if name.startswith("void ") else name
