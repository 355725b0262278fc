"""The ops: one record per op, each registered once, in a module per small family.

A record (``spec.OpSpec``) holds everything about its op: the recipe keys with their bounds and
defaults, how it draws its values from the sample's generator, how it applies them (a matrix
builder, a resolver, or an image function) and how preview names it. The recipe registry
(``segaug_cli.recipe.registry``) imports every module here except ``spec`` and collects its
``OPS``; a family's ``ORDER`` places its ops in the docs table and in error messages.

Every recipe command reads these modules, ``segaug validate`` included, so they import only the
standard library and ``spec`` at the top: NumPy and ``transforms`` (OpenCV) are imported inside the
functions that draw or apply, which run only when a sample is made. See docs/adding-an-op.md.
"""
