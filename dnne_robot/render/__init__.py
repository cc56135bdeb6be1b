"""Rendering stage: templates to files."""
