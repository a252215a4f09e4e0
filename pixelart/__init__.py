"""Fashion photo to pixel art by score distillation (SD-πXL), with recorded trajectories and stopping strategies."""

import logging


class _NoTorchvisionNotice(logging.Filter):
    """Drop transformers' "requires torchvision; falling back to the PIL image processor" notice.

    This project runs without torchvision on purpose (see requirements.txt) and asks for the PIL
    processors explicitly, so the notice, printed when diffusers imports transformers, is only noise.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision" not in record.getMessage()


logging.getLogger("transformers.utils.import_utils").addFilter(_NoTorchvisionNotice())
