"""Utilities: printing, DLPack."""
