"""The contract: what an operator, a resource and a plugin are written against.

errors (the exception tree), kinds (edge kinds and field dtypes), items (MediaInfo, FrameBatch,
AudioTrack, Sampling, Limits), operator + declare (``@operator`` -> OperatorSpec, checked when
declared), fingerprint (code + resource identity) and registry (what ``@operator`` and
``@resource`` register). It imports nothing else of factorline but the factor cards' reader
(``factorline.cards``): ``tests/test_layers.py`` holds every layer to that with import-linter.
Plugins import it through :mod:`factorline.sdk`.
"""
