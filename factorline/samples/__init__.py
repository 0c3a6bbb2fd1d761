"""The bundled labeled sample set: real clips and photos that packages ship, known effects added.

``build_sample_set(dest)`` writes videos/ and images/ plus ``ground_truth.jsonl`` and a README;
``transforms`` holds the pure effect functions so benchmarks can build other labeled sets.
"""

from factorline.samples.build import (
    SAMPLE_SET_VERSION,
    build_sample_set,
    default_sample_dir,
    is_current,
    load_ground_truth,
)

__all__ = ["SAMPLE_SET_VERSION", "build_sample_set", "default_sample_dir", "is_current", "load_ground_truth"]
