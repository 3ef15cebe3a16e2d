"""Source Health Preview: a static site generator for connector health pages.

Pipeline, one module per stage, data flowing one way:
load (YAML -> validated models) -> resolve (catalog, profile filter, masking, lint -> view models)
-> render (Jinja2, autoescaped) -> verify (leak scan over the written bytes) -> write (atomic swap).
"""
__version__ = "0.1.0"
