"""Framework node classes: what each node type does when its graph runs.

A generated node module subclasses one of these and sets the node's constants (its widget
values); the class holds the behaviour, where tests and linters see it. Copied into exports
as ``framework/nodes``, one module at a time: an export carries only the modules its nodes
use. Nothing is imported here, so that copying one module never drags in the others.
"""
