"""Council GAN translation of an anime face (shoulders up) to a full-body image (seed 001).

Not implemented yet: no issue for this package is open. The package exists so the project layout
matches the design card; it exports nothing.
"""
