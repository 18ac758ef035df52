"""Where kernels run: `cuda` (CuPy arrays + NVRTC-built kernels) and `cpu` (the NumPy reference)."""
