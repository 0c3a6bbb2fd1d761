"""Reviewing a run: browse its items, give verdicts, turn them into labels (the closed loop).

    runs.py         run folders under an allowlisted root; one record by row index
    grid.py         grid columns, the filter language, sort and paging (DuckDB over Parquet)
    items.py        a run's description, a page of grid rows, one item with its timeline
    store.py        RUN/reviews.jsonl: validated verdicts, appended and fsynced
    queues.py       what to review first: flips, low confidence, a sized random sample
    labels.py       verdicts as labels for `factorline evaluate` and `factorline train`
    labelstudio.py  Label Studio tasks with pre-annotations, and their annotations back
    commands.py     `factorline reviews ...`

The HTTP routes are in :mod:`factorline.serve.review`; the web page in ``ui/src/review/``.
"""
