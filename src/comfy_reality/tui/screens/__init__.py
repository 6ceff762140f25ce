"""The main screen (panes, handlers, actions) and the screens pushed over it: help, quit confirmation,
saving outputs, names, the input form, the history.

Import them from their modules; help and the form load on first use to keep start-up fast.
"""
