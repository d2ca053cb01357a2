"""asv benchmarks of the int8 kernels (``asv.conf.json`` at the repository root)."""
