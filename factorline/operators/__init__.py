"""The built-in operator catalogue: importing this package registers every operator.

Every module in this package is imported, so adding an operator family is adding a module;
modules whose name starts with an underscore are helpers and are skipped.
"""

from importlib import import_module
from pkgutil import iter_modules

for _module in iter_modules(__path__):
    if not _module.name.startswith("_"):
        import_module(f"{__name__}.{_module.name}")
