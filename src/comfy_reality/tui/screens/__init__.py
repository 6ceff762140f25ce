"""Screens pushed over the main screen: help, quit confirmation, saving outputs, names, the input form.

Import them from their modules; help and the form load on first use to keep start-up fast.
"""
