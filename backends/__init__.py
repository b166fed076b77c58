"""Compilation targets, installed as ``typedflow.backends``; found through the
``typedflow.backends`` entry-point group."""
