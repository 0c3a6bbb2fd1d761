"""The engine: a pipeline document compiled to a plan and run on items.

document (PipelineDoc, load/save), compiler (document -> Plan), executor (Engine.run_item:
probe, shared decode, steps, decide), pool (resources loaded once), records (JSONL/Parquet).
It sits above the catalogue (:mod:`factorline.plugins`), the operators and media, and below
the commands that run it (batch, serve, cli).
"""
