# pyright: standard
"""The gallery: finished images and their recipes on disk (no widgets)."""
