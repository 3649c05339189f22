"""Numba kernels: free functions over C-contiguous NumPy arrays.

This package imports only numpy and numba (never the rest of semcache), and
importing it compiles nothing: each kernel compiles on its first call.
"""

from .hamming import hamming, hamming_search
from .simhash import band_keys, simhash_texts, simhash_vectors

__all__ = ["band_keys", "hamming", "hamming_search", "simhash_texts", "simhash_vectors"]
