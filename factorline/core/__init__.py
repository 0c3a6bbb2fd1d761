"""Operator contract and registry, pipeline document, compiler and executor."""
