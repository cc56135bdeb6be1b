"""dnne-robot: ComfyUI / DNNE node graphs to standalone robot-learning code."""

__version__ = "0.1.0"
