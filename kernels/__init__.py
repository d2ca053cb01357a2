"""Int8 kernels (Numba CPU and CUDA) for the EGGROLL trainer."""
