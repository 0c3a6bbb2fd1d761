"""Embeddings made searchable: an on-disk FAISS index of item and frame vectors (index.py),
built from runs or media through the embedding cache (build.py), searched by image, video,
text or item (query.py), near-duplicate clusters (dedup.py), the transforms of a copy
(copies.py, used by the ``copy_of`` operator), and the CLI (commands.py)."""
