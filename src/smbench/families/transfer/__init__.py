"""Copies: cudaMemcpyAsync between host and device and within the device (see family.py)."""
