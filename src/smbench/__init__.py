"""smbench: GPU microbenchmarks that say what a CUDA GPU really does."""

__version__ = "0.1.0"
