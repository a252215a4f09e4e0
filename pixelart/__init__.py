"""Fashion photo to pixel art by score distillation (SD-πXL), with recorded trajectories and stopping strategies."""
