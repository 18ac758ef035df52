"""Where kernels run: `cuda` (CuPy arrays + NVRTC-built kernels), `mlx` (Apple silicon through
MLX; MLX's CPU device on Linux) and `cpu` (the NumPy reference)."""

# What --backend accepts; auto: CUDA where a GPU is usable, else MLX with Metal, else the CPU path.
CHOICES = ("auto", "cuda", "mlx", "cpu")
