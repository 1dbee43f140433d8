"""What the real Ctrl-C tests give the commands they start."""

import signal


def interruptible() -> None:
    """``preexec_fn`` for a command a test will interrupt: SIGINT, SIGTERM and SIGHUP at their default
    disposition and unblocked, as a terminal's shell starts a command, whatever this test process
    inherited (a run under ``nohup`` ignores SIGHUP, which the commands then rightly keep ignoring)."""
    stops = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    for stop in stops:
        signal.signal(stop, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
