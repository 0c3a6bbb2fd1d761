"""factorline: many small explainable factor models, combined by rules that people can read."""

__version__ = "0.1.0"
