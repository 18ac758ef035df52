"""Benchmark families: one module each (stream: memory bandwidth)."""
