"""What the real Ctrl-C tests give the commands they start."""

import signal


def interruptible() -> None:
    """``preexec_fn`` for a command a test will interrupt: SIGINT at its default disposition and
    unblocked, as a terminal's shell starts a command, whatever this test process inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
