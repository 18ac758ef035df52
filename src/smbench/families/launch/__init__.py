"""Launch latency: an empty kernel (see family.py)."""
