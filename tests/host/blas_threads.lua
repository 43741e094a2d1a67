-- Prints how many threads OpenBLAS uses on this rank (the host sets it at start).
print("blas_threads=" .. tide.blas_threads())
