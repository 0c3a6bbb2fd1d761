"""An example factorline plugin (docs/extending.md walks through it).

- ``operators.glare``: share of blown-out pixels, per frame and per item;
- ``levels``: the ``glare_levels`` resource, a small JSON "model" shipped with the package;
- ``backbones.mean_colour``: a 3-d image backbone (mean R, G, B), for few-shot heads;
- ``rules.between``: ``between(x, lo, hi)`` in the rule language.
"""
