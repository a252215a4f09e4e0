"""Score-distillation guidance: conditioning images, timestep schedules, augmentation and the SDS loss."""
