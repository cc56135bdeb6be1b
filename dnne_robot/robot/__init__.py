"""Robot I/O and the control loop: the UDP protocol, the fixed-rate loop, ``deploy.py``'s
policy, transports and controller, and ``runner.py serve-robot``. Copied into RL exports as
``framework/robot``.

Nothing is imported here: ``deploy.py`` imports :mod:`.deploy`, which needs only the standard
library and numpy (the policy brings torch or onnxruntime), and must not pull in the
simulator that :mod:`.server` uses.
"""
