"""Screens pushed over the main screen: help, quit confirmation, saving outputs, the input form."""

from .confirm_quit import ConfirmQuitScreen
from .help import HelpScreen
from .save_outputs import SaveOutputsScreen

__all__ = ["ConfirmQuitScreen", "HelpScreen", "SaveOutputsScreen"]
