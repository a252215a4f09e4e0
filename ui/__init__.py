"""The Gradio interface of the workbench: ``build_demo()`` builds the Blocks, ``launch_options()`` the
options to launch it with. Each module has one job; engine work goes through ``pixelart``."""

from ui.demo import build_demo, launch_options

__all__ = ["build_demo", "launch_options"]
