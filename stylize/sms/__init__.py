"""Style Matching Score (SMS, arXiv 2503.07601): balanced stylization of a content image by optimising
its SD 1.5 latent so the style LoRA model's score matches it, with Progressive Spectrum Regularization
(content) and Semantic-Aware Gradient Refinement. Engine API: ``SMSConfig``, ``SMSRun``."""

from stylize.sms.config import SMSConfig

__all__ = ["SMSConfig", "SMSRun"]


def __getattr__(name: str):
    # SMSRun imports torch: keep ``import stylize.sms`` (config, CLI help) light
    if name == "SMSRun":
        from stylize.sms.run import SMSRun

        return SMSRun
    raise AttributeError(name)
