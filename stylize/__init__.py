"""Style transfer back ends (seeds 002 and 003): Gatys neural style transfer, Neural Style Vector
clustering of style images per texture word, and Style Matching Score (SMS) diffusion stylization.

Not implemented yet: no issue for this package is open. The package exists so the project layout
matches the design card; it exports nothing.
"""
