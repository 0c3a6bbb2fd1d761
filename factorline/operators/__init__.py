"""The built-in operator catalogue: importing this package registers every operator."""

from . import layout, quality  # noqa: F401  (importing registers the operators)
