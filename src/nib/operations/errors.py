"""The refusal of an operation: a message for the person who ran the command."""


class OperationRefused(Exception):
    """Bad input, a damaged or foreign backup, a destination that is not empty…: the command
    prints the message and exits with status 1, having changed nothing."""
